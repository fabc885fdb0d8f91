#!/usr/bin/env bash
# Installs what building and running bitorrent needs and this machine lacks: an MPI
# (OpenMPI) with its compiler wrapper, libclang (rsmpi's build generates bindings with it), and
# a Rust toolchain. Installs only what is missing; without root, prints the one command to run.
set -euo pipefail

missing=()
command -v mpicc >/dev/null 2>&1 || missing+=(libopenmpi-dev)
command -v mpirun >/dev/null 2>&1 || missing+=(openmpi-bin)
# rsmpi's build script loads libclang through clang-sys, which wants libclang.so or
# libclang-<version>.so (not libclang-cpp.so, which a fresh Debian may have alone).
if ! compgen -G '/usr/lib/llvm-*/lib/libclang.so*' >/dev/null \
   && ! compgen -G '/usr/lib/*/libclang-[0-9]*.so*' >/dev/null \
   && ! compgen -G '/usr/lib/*/libclang.so*' >/dev/null; then
  missing+=(libclang-dev)
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bitorrent: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  elif command -v apt-get >/dev/null 2>&1; then
    echo "bitorrent: missing ${missing[*]}; install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  else
    echo "bitorrent: missing ${missing[*]} (Debian names): install OpenMPI with its headers and libclang" >&2
    echo "  e.g. on Fedora: sudo dnf install openmpi-devel clang-devel; on macOS: brew install open-mpi llvm" >&2
    exit 1
  fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "bitorrent: no Rust toolchain; install it with:" >&2
  echo "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh" >&2
  exit 1
fi
