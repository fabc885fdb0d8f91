# The two commands a newcomer types: `make run` and `make test`. Both install what is missing.

CARGO ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock
# How many runs `make stress` makes of each scenario.
RUNS ?= 100
# loom's preemption bound: 2 takes about two minutes; 3 far longer (the whole-peer models have
# five threads).
LOOM_MAX_PREEMPTIONS ?= 2
export LOOM_MAX_PREEMPTIONS

.PHONY: all deps run test lint loom stress bench clean

all: bitorrent

deps:
	@scripts/ensure-deps.sh

bitorrent: $(SOURCES) | deps
	$(CARGO) build --release --locked
	cp $(TARGET_DIR)/release/bitorrent $@

run: bitorrent
	@scripts/run-example.sh

# Every test: unit and integration tests (under mpirun and in-process), the loom models, and a
# short stress run. `make stress` is the long one.
test: bitorrent lint
	$(CARGO) test --release --locked
	$(CARGO) test --release --locked --features loom --test 'loom_*'
	scripts/stress.sh --runs 3

# Clippy keeps synchronization primitives inside src/sync/ (clippy.toml), where loom can swap them.
lint: | deps
	@if $(CARGO) clippy --version >/dev/null 2>&1; then \
	  $(CARGO) clippy --release --locked --all-targets -- -D warnings; \
	else \
	  echo "lint: clippy is missing; install it with: rustup component add clippy" >&2; exit 1; \
	fi

loom: | deps
	$(CARGO) test --release --locked --features loom --test 'loom_*'

stress: bitorrent
	scripts/stress.sh --runs $(RUNS)

bench: bitorrent
	scripts/bench.sh

clean:
	$(CARGO) clean
	rm -f bitorrent

# The wire decoder under the fuzzer, long (`make test` runs 200000 inputs): FUZZ_CASES inputs,
# FUZZ_SEED to vary them.
FUZZ_CASES ?= 10000000
.PHONY: fuzz
fuzz: | deps
	FUZZ_CASES=$(FUZZ_CASES) $(CARGO) test --release --locked --test fuzz_wire -- --nocapture
