#!/usr/bin/env bash
# Installs what building, testing and benchmarking bitorrent need and this machine lacks: an MPI
# (OpenMPI) with its compiler wrapper, a C compiler and linker (`cc`: rustc links through it),
# libclang (rsmpi's build generates bindings with it), CA certificates (cargo fetches crates over
# https), and the tools the Makefile and scripts/*.sh call (make, bc, awk, diff, timeout). Then
# checks the Rust toolchain against Cargo.toml's `rust-version`: too old or missing, it prints the
# one command that gets a new enough one, and fails.
# Installs only what is missing; without root, prints the one command to run.
#
# Usage: scripts/ensure-deps.sh [--mpich]
#   --mpich  also MPICH (mpich libmpich-dev), beside OpenMPI, for `make test-mpich`. Debian gives
#            MPICH's alternatives a lower priority than OpenMPI's, so `mpirun` and `mpicc` stay
#            OpenMPI's; this script checks that they did.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
mpich=0
case ${1:-} in
  --mpich) mpich=1 ;;
  '') ;;
  *) echo "ensure-deps.sh: unknown argument $1 (only --mpich)" >&2; exit 2 ;;
esac

missing=()
# need COMMAND DEBIAN_PACKAGE: the package, unless the command is already there.
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }

need mpicc libopenmpi-dev
need mpirun openmpi-bin
# libopenmpi-dev brings gcc-12 but not the `cc` that rustc links with; `gcc` provides it.
need cc gcc
need make make
need bc bc            # scripts/bench.sh
need awk mawk         # scripts/stress.sh, bench.sh (Debian's minimal systems have it; others may not)
need diff diffutils   # scripts/stress.sh judges outputs with diff -w
need timeout coreutils
# rsmpi's build script loads libclang through clang-sys, which wants libclang.so or
# libclang-<version>.so (not libclang-cpp.so, which a fresh Debian may have alone).
if ! compgen -G '/usr/lib/llvm-*/lib/libclang.so*' >/dev/null \
   && ! compgen -G '/usr/lib/*/libclang-[0-9]*.so*' >/dev/null \
   && ! compgen -G '/usr/lib/*/libclang.so*' >/dev/null; then
  missing+=(libclang-dev)
fi
# cargo downloads crates over https and trusts the system's certificates.
[ -e /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
if [ $mpich = 1 ]; then
  need mpicc.mpich libmpich-dev
  need mpiexec.mpich mpich
fi

# What `mpirun` and `mpicc` are before installing, to check that installing MPICH left them be.
default_mpi() {
  if command -v mpirun >/dev/null 2>&1 && command -v mpicc >/dev/null 2>&1; then
    readlink -f "$(command -v mpirun)" "$(command -v mpicc)" | tr '\n' ' '
  fi
}
before=$(default_mpi)

if [ ${#missing[@]} -gt 0 ]; then
  # A package can stand for two commands (coreutils); name it once.
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bitorrent: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  elif command -v apt-get >/dev/null 2>&1; then
    echo "bitorrent: missing ${missing[*]}; install them with:" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  else
    echo "bitorrent: missing ${missing[*]} (Debian names): install OpenMPI with its headers, a C compiler, libclang, bc" >&2
    echo "  e.g. on Fedora: sudo dnf install openmpi-devel clang-devel gcc make bc; on macOS: brew install open-mpi llvm" >&2
    exit 1
  fi
fi

if [ $mpich = 1 ] && [[ " ${missing[*]} " == *" mpich "* || " ${missing[*]} " == *" libmpich-dev "* ]]; then
  after=$(default_mpi)
  if [ -n "$before" ] && [ "$before" != "$after" ]; then
    echo "bitorrent: installing MPICH changed the default MPI:" >&2
    echo "  before: $before" >&2
    echo "  after:  $after" >&2
    echo "  OpenMPI again: update-alternatives --auto mpi && update-alternatives --auto mpirun" >&2
    exit 1
  fi
fi

# The Rust toolchain: Cargo.toml's rust-version (the edition's first release when it names none).
cargo=${CARGO:-cargo}
source="Cargo.toml's rust-version"
wanted=$(awk -F'"' '/^\[/ { in_package = ($0 == "[package]") } in_package && /^rust-version *=/ { print $2; exit }' "$top/Cargo.toml")
if [ -z "$wanted" ]; then
  edition=$(awk -F'"' '/^\[/ { in_package = ($0 == "[package]") } in_package && /^edition *=/ { print $2; exit }' "$top/Cargo.toml")
  case $edition in 2024) wanted=1.85 ;; 2021) wanted=1.56 ;; *) wanted=1.31 ;; esac
  source="edition $edition"
fi
# version_of COMMAND: "1.63.0" from "cargo 1.63.0" or "rustc 1.95.0 (59807616e 2026-04-14)".
version_of() { "$1" --version 2>/dev/null | awk 'NR == 1 { print $2 }'; }
# older A B: whether version A is older than version B (each part compared as a number).
older() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    n = split(a, x, "."); m = split(b, y, "."); if (m > n) n = m
    for (i = 1; i <= n; i++) { if (x[i] + 0 < y[i] + 0) exit 0; if (x[i] + 0 > y[i] + 0) exit 1 }
    exit 1 }'
}
have_cargo=$(version_of "$cargo" || true)
have_rustc=$(version_of rustc || true)
problem=
if [ -z "$have_cargo" ] || [ -z "$have_rustc" ]; then
  problem="no Rust toolchain (cargo and rustc) on PATH"
elif older "$have_cargo" "$wanted" || older "$have_rustc" "$wanted"; then
  problem="Rust $wanted or newer is needed ($source), but $(command -v "$cargo") is $have_cargo and $(command -v rustc) is $have_rustc"
fi
if [ -n "$problem" ]; then
  echo "bitorrent: $problem. Get a new enough one with:" >&2
  if command -v rustup >/dev/null 2>&1; then
    rustup_bin=$(dirname "$(command -v rustup)")
    if [ "$(command -v "$cargo" || true)" = "$rustup_bin/cargo" ]; then
      echo "  rustup update stable && rustup default stable" >&2
    else
      # rustup is there, but another cargo (Debian's, in /usr/bin) comes first on PATH.
      echo "  rustup default stable && export PATH=\"$rustup_bin:\$PATH\"" >&2
    fi
  else
    echo "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y && . \"\$HOME/.cargo/env\"" >&2
  fi
  case $(command -v "$cargo" || true) in
    /usr/bin/*) echo "  (Debian's own cargo/rustc packages are too old for this crate; rustup's go to ~/.cargo/bin, which must come first on PATH)" >&2 ;;
  esac
  exit 1
fi
