#!/usr/bin/env bash
# The main job: build uzram (Release), make the corpora of real process memory
# and of executables if they are missing, and run `uzram bench --compare-kernel`
# on each with lz4 and two threads: uzram's store beside the kernel's zram.
# Usage: scripts/main.sh [extra uzram bench options...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DUZRAM_BUILD_TESTS=OFF >/dev/null
ninja -C build/release uzram_cli
mkdir -p corpus
[ -s corpus/python-heap.bin ] || scripts/make-corpus.sh python corpus/python-heap.bin 512
[ -s corpus/usr-bin.bin ] || scripts/make-corpus.sh exec corpus/usr-bin.bin 300
for input in corpus/python-heap.bin corpus/usr-bin.bin; do
  echo "== $input"
  build/release/src/cli/uzram bench --input "$input" --algo lz4 --threads 2 --compare-kernel "$@"
done
