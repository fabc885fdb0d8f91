#!/usr/bin/env bash
# mpirun as the scripts and tests use it: more ranks than cores allowed, standard input closed
# (mpirun forwards it), and, when run as root (containers, CI), OpenMPI's explicit consent.
# Usage: scripts/mpirun.sh NP COMMAND [ARGS...]
set -euo pipefail
np=$1; shift
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
exec mpirun --oversubscribe -np "$np" "$@" </dev/null
