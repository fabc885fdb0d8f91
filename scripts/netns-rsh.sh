#!/usr/bin/env bash
# OpenMPI's remote shell for scripts/test-hosts.sh: what `ssh HOST COMMAND...` would do, where
# each "host" is a Linux network namespace. mpirun calls it (`--mca plm_rsh_agent`) to start its
# daemon (orted) on every host of the hostfile but its own; test-hosts.sh calls it to start
# mpirun itself on the first host.
#
# Usage: NETNS_RSH_HOSTS="ADDRESS=NAMESPACE ..." scripts/netns-rsh.sh HOST COMMAND...
#
# HOST is an address of NETNS_RSH_HOSTS; COMMAND runs in that namespace, in a UTS namespace of
# its own whose hostname is the network namespace's name. Without that, every "host" shares
# this machine's hostname, and OpenMPI (4.1.4) names its session directories after it in the
# /tmp all the namespaces share: the daemons of two hosts, starting at once, race to create the
# same /tmp/ompi.<hostname>.<uid>/jf.<job> ("mkdir: File exists"), one fails its start-up, and
# mpirun hangs or aborts (2 launches in 30, tried). Distinct hostnames also make OpenMPI's
# messages, which begin with the hostname, say which host they come from.
#
# As with ssh, the words of COMMAND are joined with spaces and the result is run by a shell:
# OpenMPI quotes its arguments for that shell (`-mca ess "env"`), so they must not be passed on
# one by one. A caller with arbitrary arguments quotes them (printf %q).
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "netns-rsh.sh: usage: netns-rsh.sh HOST COMMAND..." >&2
  exit 255
fi
host=$1
shift

namespace=
for entry in ${NETNS_RSH_HOSTS:-}; do
  if [ "${entry%%=*}" = "$host" ]; then
    namespace=${entry#*=}
  fi
done
if [ -z "$namespace" ]; then
  # 255, as ssh exits when it cannot reach the host.
  echo "netns-rsh.sh: no namespace for host '$host' (NETNS_RSH_HOSTS='${NETNS_RSH_HOSTS:-}')" >&2
  exit 255
fi

# `ip netns exec`, `unshare --uts` and the shells exec (bash runs a lone command by exec), so the
# pid the caller holds (mpirun's child, or test-hosts.sh's timeout's) ends up being the command
# itself, and its signals reach it.
# shellcheck disable=SC2016  # $1 and $2 are the inner shell's
exec ip netns exec "$namespace" unshare --uts -- \
  bash -c 'hostname "$1" && exec bash -c "$2"' netns-rsh "$namespace" "$*"
