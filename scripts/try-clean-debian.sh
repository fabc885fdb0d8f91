#!/usr/bin/env bash
# Tries a clean clone of this branch on a freshly bootstrapped Debian: does `make` (which installs
# what is missing through scripts/ensure-deps.sh) build there, and do the tests pass?
#
# Usage (as root): scripts/try-clean-debian.sh SUITE [WHAT]
#   SUITE  a Debian suite debootstrap knows: bookworm (12), trixie (13), ...
#   WHAT   course  (default) scripts/ensure-deps.sh (a minimal Debian lacks even make), make,
#                  then the course's four tests under mpirun
#          test    .ci/run: all of `make test`, as CI runs it
#          mpich   make test-mpich (the course's tests built against and run under MPICH)
#          shell   an interactive shell in the clone
#          other   any other word is a shell command, run in the clone
#
# The root is a `debootstrap --variant=minbase` system in /var/tmp/bitorrent-clean-SUITE (made
# once, reused while it exists; FRESH=1 makes it again). The Rust toolchain is this machine's
# (~/.cargo/bin and ~/.rustup, bind-mounted read-only): rustup is what the README asks for, and the
# point is the system packages. Only what is committed on the branch is tried. Mounts are undone on
# exit, whatever happens. MIRROR (default http://deb.debian.org/debian) picks the mirror.
set -euo pipefail

suite=${1:?usage: scripts/try-clean-debian.sh SUITE [course|test|mpich|shell]}
what=${2:-course}
[ "$(id -u)" -eq 0 ] || { echo "try-clean-debian: run it as root (debootstrap, chroot, mount)" >&2; exit 2; }

top=$(cd "$(dirname "$0")/.." && pwd)
branch=$(git -C "$top" rev-parse --abbrev-ref HEAD)
root=/var/tmp/bitorrent-clean-$suite
mirror=${MIRROR:-http://deb.debian.org/debian}
cargo_home=${CARGO_HOME:-$HOME/.cargo}
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
[ -x "$cargo_home/bin/cargo" ] && [ -d "$rustup_home/toolchains" ] ||
  { echo "try-clean-debian: no rustup toolchain in $cargo_home and $rustup_home to lend the root" >&2; exit 2; }

if ! command -v debootstrap >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" || echo "try-clean-debian: cannot unmount ${mounted[i]}" >&2
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# mount_at TARGET MOUNT-ARGS...: mounts inside the root, remembered for the cleanup.
mount_at() {
  local target=$root$1; shift
  mkdir -p "$target"
  mount "$@" "$target"
  mounted+=("$target")
}

if [ "${FRESH:-0}" = 1 ] || [ ! -e "$root/.bootstrapped" ]; then
  rm -rf --one-file-system "$root"
  echo "== debootstrap --variant=minbase $suite $root $mirror"
  debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
    { tail -n 20 "$root.debootstrap.log" >&2; exit 1; }
  touch "$root/.bootstrapped"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
# debootstrap writes no /etc/hosts, and an installed machine has one: without it this machine's
# name does not resolve, and OpenMPI's mpirun then takes 10-16 s to end a job after MPI_Abort.
[ -e "$root/etc/hosts" ] || cp /etc/hosts "$root/etc/hosts"
# This machine's certificate authorities, for cargo's downloads only (a network may inspect https
# through a proxy of its own, which the root's fresh ca-certificates would not trust).
ca_env=()
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$root/opt/host-ca.crt"
  ca_env=(CARGO_HTTP_CAINFO=/opt/host-ca.crt)
fi

mount_at /proc -t proc proc
mount_at /sys -t sysfs sysfs
mount_at /dev --bind /dev
mount_at /dev/pts --bind /dev/pts
mount_at /dev/shm -t tmpfs tmpfs
mount_at /opt/host-cargo --bind -o ro "$cargo_home"
mount -o remount,bind,ro "$root/opt/host-cargo"
mount_at /opt/host-rustup --bind -o ro "$rustup_home"
mount -o remount,bind,ro "$root/opt/host-rustup"

rm -rf "$root/root/bitorrent"
git clone -q --branch "$branch" "$top" "$root/root/bitorrent"
echo "== $(grep PRETTY_NAME "$root/etc/os-release" | cut -d= -f2), branch $branch at $(git -C "$root/root/bitorrent" log -1 --format='%h %s')"

case $what in
  course) steps='scripts/ensure-deps.sh && make && cargo test --release --locked --test official course_test' ;;
  test) steps='.ci/run' ;;
  mpich) steps='scripts/ensure-deps.sh && make test-mpich' ;;
  shell) steps='bash -i' ;;
  *) steps=$what ;;
esac
# A clean environment: the root's own PATH plus the lent toolchain; cargo's downloads go to a
# writable CARGO_HOME inside the root.
chroot "$root" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 \
  PATH=/opt/host-cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  RUSTUP_HOME=/opt/host-rustup CARGO_HOME=/root/.cargo ${ca_env[@]+"${ca_env[@]}"} \
  bash -c "set -x; cd /root/bitorrent && cargo --version && $steps"
echo "== $suite: '$what' passed"
