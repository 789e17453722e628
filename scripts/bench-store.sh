#!/usr/bin/env bash
# bench-store.sh: uzram's Store beside the kernel's zram on the two corpora,
# as a Markdown table on stdout (progress and notes on stderr).
#
#   scripts/bench-store.sh
#
# Builds a Release `uzram` in ./build/release if needed (the tree
# scripts/main.sh uses), makes ./corpus/python-heap.bin (a Python heap) and
# ./corpus/usr-bin.bin (executables) with make-corpus.sh if they are missing
# (the same files main.sh makes), then runs, for each corpus and each thread
# count,
#   uzram bench --input CORPUS --compare-kernel --algo lz4 --threads N --json
# The kernel's side needs root and an unused /dev/zram0; without them its
# columns say why they are empty.
#
# Environment: BUILD_DIR (build/release), CORPUS_DIR (corpus), ALGO (lz4),
# THREADS ("1 2"), PYTHON_MIB (512), EXEC_MIB (300), UZRAM (a uzram binary to
# use instead of building one).
set -euo pipefail

cd "$(dirname -- "$0")/.."
build_dir=${BUILD_DIR:-build/release}
corpus_dir=${CORPUS_DIR:-corpus}
algo=${ALGO:-lz4}
threads_list=${THREADS:-1 2}
python_mib=${PYTHON_MIB:-512}
exec_mib=${EXEC_MIB:-300}

log() { echo "bench-store: $*" >&2; }

if [[ -n "${UZRAM:-}" ]]; then
  uzram=$UZRAM
else
  log "building Release in $build_dir"
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DUZRAM_BUILD_TESTS=OFF >&2
  ninja -C "$build_dir" uzram_cli >&2
  uzram="$build_dir/src/cli/uzram"
fi
[[ -x "$uzram" ]] || { log "no uzram binary at $uzram"; exit 1; }

mkdir -p "$corpus_dir"
[[ -s "$corpus_dir/python-heap.bin" ]] || scripts/make-corpus.sh python "$corpus_dir/python-heap.bin" "$python_mib"
[[ -s "$corpus_dir/usr-bin.bin" ]] || scripts/make-corpus.sh exec "$corpus_dir/usr-bin.bin" "$exec_mib"

results=$(mktemp -d)
trap 'rm -rf -- "$results"' EXIT
commands=()
n=0
for corpus in python-heap usr-bin; do
  for threads in $threads_list; do
    cmd=("$uzram" bench --input "$corpus_dir/$corpus.bin" --compare-kernel --algo "$algo" --threads "$threads" --json)
    log "running: ${cmd[*]}"
    commands+=("${cmd[*]}")
    n=$((n + 1))
    # A failed verification exits 1 but still prints its figures: keep them.
    "${cmd[@]}" >"$results/$n.json" || log "exit status $? (see the verified column)"
    echo "$corpus" >"$results/$n.name"
  done
done

python3 - "$results" "$n" "$algo" <<'PYTHON'
import json
import sys

results, n, algo = sys.argv[1], int(sys.argv[2]), sys.argv[3]
MIB = 1 << 20


def fmt(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


print(f"uzram Store vs kernel zram, {algo}, 4 KiB pages; MB = 1e6 bytes, MiB = 2^20 bytes")
print()
print("| corpus | threads | uzram write MB/s | uzram read MB/s | kernel write MB/s | kernel read MB/s "
      "| write ratio | read ratio | uzram mem_used MiB | kernel mem_used MiB | mem_used ratio "
      "| uzram RSS delta MiB | verified (uzram/kernel) |")
print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
notes = []
for i in range(1, n + 1):
    name = open(f"{results}/{i}.name").read().strip()
    try:
        r = json.load(open(f"{results}/{i}.json"))
    except (OSError, ValueError):
        print(f"| {name} | ? | no result (see stderr) |")
        continue
    k = r.get("kernel", {})
    ratios = r.get("ratios", {})
    if "skipped" in k:
        notes.append(f"{name}, {r['threads']} thread(s): kernel zram skipped ({k.get('skipped_because', 'error')}): {k['skipped']}")
    rss = r.get("rss_anon_delta_bytes")
    row = [name, r["threads"], fmt(r["write_MBps"]), fmt(r["read_MBps"]),
           fmt(k.get("write_MBps")), fmt(k.get("read_MBps")),
           fmt(ratios.get("write"), 2), fmt(ratios.get("read"), 2),
           fmt(r["mem_used_bytes"] / MIB), fmt(k["mem_used_bytes"] / MIB if "mem_used_bytes" in k else None),
           fmt(ratios.get("mem_used"), 3), fmt(rss / MIB if rss is not None else None),
           f"{'yes' if r['verified'] else 'NO'}/{'-' if 'verified' not in k else ('yes' if k['verified'] else 'NO')}"]
    print("| " + " | ".join(str(c) for c in row) + " |")
for note in notes:
    print()
    print(note)
PYTHON

echo
echo "Made by scripts/bench-store.sh, which ran:"
echo
echo '```'
for c in "${commands[@]}"; do echo "$c"; done
echo '```'
