#!/usr/bin/env bash
# `make run`: the bundled example swarm under mpirun, in a scratch folder (the repository stays
# clean), then what each peer wrote.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
example=${1:-$top/inputs/example}
ranks=$(( $(ls "$example"/in*.txt | wc -l) + 1 ))
scratch=$(mktemp -d "${TMPDIR:-/tmp}/bitorrent-run.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
cp "$example"/in*.txt "$scratch"/
echo "\$ mpirun -np $ranks ./bitorrent --verbose    # in a copy of ${example#$top/}"
(cd "$scratch" && "$top/scripts/mpirun.sh" "$ranks" "$top/bitorrent" --verbose)
echo
for output in "$scratch"/client*; do
  lines=$(wc -l < "$output")
  printf '%-22s %4d segments: %s .. %s\n' "$(basename "$output")" "$lines" "$(head -c 8 "$output")" "$(tail -n 1 "$output" | head -c 8)"
done
