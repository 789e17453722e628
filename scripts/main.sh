#!/usr/bin/env bash
# The main job: build uzram (Release) and run `uzram demo`: a program's own
# memory, several times its resident limit, kept compressed by uzram's
# userfaultfd swap, with a live progress line and a summary of what it saved
# and cost. Then, as root, the store beside the kernel's zram: the corpora of
# real process memory and of executables are made if missing and run through
# `uzram bench --compare-kernel` (lz4, two threads).
# Usage: scripts/main.sh [--demo-only]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DUZRAM_BUILD_TESTS=OFF >/dev/null
ninja -C build/release uzram_cli
uzram=build/release/src/cli/uzram
"$uzram" demo
[ "${1:-}" = "--demo-only" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "main: the comparison with the kernel's zram needs root; skipped" >&2
  exit 0
fi
mkdir -p corpus
[ -s corpus/python-heap.bin ] || scripts/make-corpus.sh python corpus/python-heap.bin 512
[ -s corpus/usr-bin.bin ] || scripts/make-corpus.sh exec corpus/usr-bin.bin 300
for input in corpus/python-heap.bin corpus/usr-bin.bin; do
  echo "== $input"
  "$uzram" bench --input "$input" --algo lz4 --threads 2 --compare-kernel
done
