# The two commands a newcomer types: `make run` and `make test`. Both install what is missing.

CARGO ?= cargo
SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock
# How many runs `make stress` makes of each scenario.
RUNS ?= 100

.PHONY: all deps run test unit-tests loom stress bench clean

all: bitorrent

deps:
	@scripts/ensure-deps.sh

bitorrent: $(SOURCES) | deps
	$(CARGO) build --release --locked
	cp target/release/bitorrent $@

run: bitorrent
	@scripts/run-example.sh

# Every test: unit and integration tests (under mpirun and in-process), the loom models, and a
# short stress run. `make stress` is the long one.
test: bitorrent
	$(CARGO) test --release --locked
	LOOM_MAX_PREEMPTIONS=2 $(CARGO) test --release --locked --features loom --test 'loom_*'
	scripts/stress.sh --runs 3

loom: | deps
	LOOM_MAX_PREEMPTIONS=3 $(CARGO) test --release --locked --features loom --test 'loom_*'

stress: bitorrent
	scripts/stress.sh --runs $(RUNS)

bench: bitorrent
	scripts/bench.sh

clean:
	$(CARGO) clean
	rm -f bitorrent
