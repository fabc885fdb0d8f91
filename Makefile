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

.PHONY: all deps run test lint loom stress bench bench-sim clean

all: bitorrent

deps:
	@scripts/ensure-deps.sh

bitorrent: $(SOURCES) | deps
	$(CARGO) build --release --locked
	cp $(TARGET_DIR)/release/bitorrent $@

run: bitorrent
	@scripts/run-example.sh

# Every test: the format, the lints of every build, unit and integration tests (under mpirun and
# in-process), the build without MPI, the loom models, a short stress run, and the real-swarm
# harness's refusals (not its real runs: `make real-swarm`). `make stress` is the long one.
test: bitorrent lint
	$(CARGO) test --release --locked
	$(CARGO) test --release --locked --no-default-features
	$(CARGO) test --release --locked --features loom --test 'loom_*'
	scripts/stress.sh --runs 3
	scripts/real-swarm/test-refusals.sh ./bitorrent

# One format (rustfmt.toml), and clippy on the three builds: the default, the one without MPI,
# and loom's (whose models are code too). Clippy also keeps synchronization primitives inside
# src/sync/ (clippy.toml), where loom can swap them.
lint: | deps
	@$(CARGO) fmt --version >/dev/null 2>&1 || { echo "lint: rustfmt is missing; install it with: rustup component add rustfmt" >&2; exit 1; }
	@$(CARGO) clippy --version >/dev/null 2>&1 || { echo "lint: clippy is missing; install it with: rustup component add clippy" >&2; exit 1; }
	$(CARGO) fmt --check
	$(CARGO) clippy --release --locked --all-targets -- -D warnings
	$(CARGO) clippy --release --locked --no-default-features --all-targets -- -D warnings
	$(CARGO) clippy --release --locked --features loom --all-targets -- -D warnings

loom: | deps
	$(CARGO) test --release --locked --features loom --test 'loom_*'

stress: bitorrent
	scripts/stress.sh --runs $(RUNS)

bench: bitorrent
	scripts/bench.sh

# The simulated engine on a ladder of flash crowds (1,000 / 10,000 / 100,000 leechers by
# default; LADDER="..." for others), each in one process and on 2 ranks (RANKS="1 2"): wall
# seconds, the speed-up, peak memory a rank, events per second, efficiency.
LADDER ?= 1000 10000 100000
bench-sim: bitorrent
	scripts/bench-sim.sh $(LADDER)

clean:
	$(CARGO) clean
	rm -f bitorrent

# The wire decoder under the fuzzer, long (`make test` runs 200000 inputs): FUZZ_CASES inputs,
# FUZZ_SEED to vary them.
FUZZ_CASES ?= 10000000
.PHONY: fuzz
fuzz: | deps
	FUZZ_CASES=$(FUZZ_CASES) $(CARGO) test --release --locked --test fuzz_wire -- --nocapture

# The course's four tests against MPICH: built with its mpicc into a target dir of its own (mpi-sys's
# build script does not run again when MPICC changes) and run under its mpiexec. Installing MPICH
# beside OpenMPI leaves `mpirun` and `mpicc` OpenMPI's (scripts/ensure-deps.sh checks).
MPICH_TARGET_DIR := $(TARGET_DIR)/mpich
MPICH_ENV := MPICC=mpicc.mpich CARGO_TARGET_DIR=$(MPICH_TARGET_DIR) MPIRUN=mpiexec.mpich
.PHONY: test-mpich
test-mpich:
	@scripts/ensure-deps.sh --mpich
	$(MPICH_ENV) $(CARGO) build --release --locked
	@if ldd $(MPICH_TARGET_DIR)/release/bitorrent | grep -q 'libmpich\.so' \
	   && ! ldd $(MPICH_TARGET_DIR)/release/bitorrent | grep -q 'libmpi\.so'; then \
	  echo "test-mpich: $(MPICH_TARGET_DIR)/release/bitorrent links $$(ldd $(MPICH_TARGET_DIR)/release/bitorrent | grep -o '/[^ ]*libmpich[^ ]*')"; \
	else \
	  echo "test-mpich: $(MPICH_TARGET_DIR)/release/bitorrent does not link MPICH's libmpich alone:" >&2; \
	  ldd $(MPICH_TARGET_DIR)/release/bitorrent >&2; exit 1; \
	fi
	$(MPICH_ENV) $(CARGO) test --release --locked --test official course_test

# The course's four tests, and the simulation split over 3 ranks (its results those of one
# process), with their ranks on three "hosts": Linux network namespaces on a bridge, OpenMPI's
# rsh launcher starting its daemons in them (scripts/netns-rsh.sh), every message between
# ranks over TCP. Needs root: without it, says why and skips, before building
# (so the script builds ./bitorrent itself, through make, rather than depend on it here).
.PHONY: test-hosts
test-hosts:
	@scripts/test-hosts.sh

# A swarm of real BitTorrent clients (libtorrent 2.0, a process and a network namespace a peer,
# links shaped with tc, the latency added by a hub of its own) against `bitorrent sim` of the same
# swarm file: mean and last completion, each class's mean, within 15% or not
# (scripts/real-swarm/README.md). Needs root; a few minutes. Not part of `make test`.
.PHONY: real-swarm
real-swarm: bitorrent
	scripts/real-swarm/run.sh scripts/real-swarm/crowd.toml real-swarm-out
