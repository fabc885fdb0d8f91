#!/usr/bin/env bash
# mpirun as the scripts and tests use it: more ranks than cores allowed, standard input closed
# (mpirun forwards it), and, when run as root (containers, CI), OpenMPI's explicit consent.
# Usage: scripts/mpirun.sh NP COMMAND [ARGS...]
#
# MPIRUN names the launcher (default mpirun; e.g. MPIRUN=mpiexec.mpich). OpenMPI's needs
# --oversubscribe for more ranks than cores; MPICH's (hydra) allows that by default and refuses
# the flag, so the launcher is asked what it is (`--version`). MPI_FLAVOR (openmpi or other), when
# set, skips the asking: scripts/stress.sh asks once and sets it for all its runs.
set -euo pipefail
np=$1; shift
mpirun=${MPIRUN:-mpirun}
if [ -z "${MPI_FLAVOR:-}" ]; then
  if "$mpirun" --version 2>&1 | grep -q -e 'Open MPI' -e 'OpenRTE'; then MPI_FLAVOR=openmpi; else MPI_FLAVOR=other; fi
fi
flags=()
[ "$MPI_FLAVOR" != openmpi ] || flags=(--oversubscribe)
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
exec "$mpirun" ${flags[@]+"${flags[@]}"} -np "$np" "$@" </dev/null
