#!/usr/bin/env bash
# make-corpus.sh: the page corpora that `uzram bench` and the anchors use.
#
#   scripts/make-corpus.sh python OUT [SIZE_MiB=512]
#       A real Python heap: starts python3, which builds dicts, lists, strings,
#       floats and ints (records of a made-up application) until its anonymous
#       memory passes SIZE; stops it (SIGSTOP); copies its anonymous writable
#       mappings ([heap] and the anonymous rw-p regions of /proc/PID/maps, in
#       address order) from /proc/PID/mem into OUT, SIZE MiB exactly when it
#       has that much (always a whole number of pages); then kills it.
#   scripts/make-corpus.sh exec OUT [SIZE_MiB=300]
#       Executables: the regular files of /usr/bin (sorted by name, symlinks
#       skipped) concatenated up to SIZE MiB exactly (the last file is cut).
#
# Needs python3, and for `python` the right to read another process's memory
# (same user, or root; see /proc/sys/kernel/yama/ptrace_scope). Sizes go to
# stderr. OUT is written to OUT.tmp first and renamed when complete.
set -euo pipefail

usage() {
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[[ $# -ge 2 && $# -le 3 ]] || usage
kind=$1
out=$2
case "$kind" in
  python) size_mib=${3:-512} ;;
  exec) size_mib=${3:-300} ;;
  *) usage ;;
esac
[[ "$size_mib" =~ ^[1-9][0-9]*$ ]] || { echo "make-corpus: SIZE_MiB must be a positive integer, not '$size_mib'" >&2; exit 2; }
command -v python3 >/dev/null || { echo "make-corpus: python3 is needed" >&2; exit 2; }
mkdir -p "$(dirname -- "$out")"

exec python3 - "$kind" "$out" "$size_mib" <<'PYTHON'
import os
import signal
import subprocess
import sys
import time

PAGE = 4096
MIB = 1 << 20
kind, out, size_mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
target = size_mib * MIB
tmp = out + ".tmp"


def log(msg):
    print(f"make-corpus: {msg}", file=sys.stderr, flush=True)


# The heap builder runs in its own python3. It grows until its RssAnon passes
# LIMIT bytes, prints "ready" and stops itself, so that its heap is frozen
# while it is read. Objects are kept alive in `keep`.
BUILDER = r'''
import random, sys, os, signal
limit = int(sys.argv[1])
rng = random.Random(20240601)
words = ("alpha beta gamma delta epsilon user admin order invoice customer product price total "
         "status pending shipped delivered cancelled street city country email phone note comment "
         "session token request response error warning info debug cache hit miss key value").split()
cities = [f"{rng.choice(words).title()}{rng.choice(words)}" for _ in range(500)]

def rss_anon():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0

keep = []
index = {}
i = 0
while True:
    for _ in range(2000):
        i += 1
        kind = i % 7
        if kind in (0, 1, 2):  # a record: a dict of mixed values
            rec = {
                "id": i,
                "name": f"{rng.choice(words)}_{rng.randrange(10**6)}",
                "email": f"{rng.choice(words)}.{rng.choice(words)}{rng.randrange(1000)}@example.com",
                "score": rng.random() * 100.0,
                "balance": round(rng.uniform(-1e4, 1e5), 2),
                "active": rng.random() < 0.8,
                "city": rng.choice(cities),
                "tags": [rng.choice(words) for _ in range(rng.randrange(1, 6))],
                "history": [rng.randrange(10**9) for _ in range(rng.randrange(0, 12))],
            }
            keep.append(rec)
            index[rec["name"]] = rec
        elif kind == 3:  # a list of floats (a time series)
            base = rng.uniform(0, 1000)
            keep.append([base + rng.gauss(0, 5) for _ in range(rng.randrange(16, 256))])
        elif kind == 4:  # a list of ints (ids, counters)
            keep.append([rng.randrange(1 << 40) for _ in range(rng.randrange(16, 256))])
        elif kind == 5:  # a text: a log line or a paragraph
            keep.append(" ".join(rng.choice(words) for _ in range(rng.randrange(8, 200))))
        else:  # a tuple and a small dict of counters
            keep.append((i, rng.choice(words), rng.random(), {w: rng.randrange(100) for w in rng.sample(words, 5)}))
    if rss_anon() >= limit:
        break
print("ready", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
signal.pause()
'''


def anon_regions(pid):
    """[heap] and anonymous rw-p mappings, in address order."""
    regions = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split()
            addr, perms = fields[0], fields[1]
            path = fields[5] if len(fields) > 5 else ""
            if perms != "rw-p" or (path and path != "[heap]"):
                continue
            start, end = (int(x, 16) for x in addr.split("-"))
            regions.append((start, end, path or "anon"))
    return regions


def wait_stopped(pid, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        if state in ("T", "t"):
            return
        time.sleep(0.01)
    raise SystemExit(f"make-corpus: python {pid} did not stop")


def make_python():
    # A little more than the target, since the interpreter's own pages and
    # the unused tails of arenas are part of what is read.
    limit = target + target // 20 + 8 * MIB
    log(f"python: building a heap of about {limit / MIB:.0f} MiB of anonymous memory")
    child = subprocess.Popen([sys.executable, "-c", BUILDER, str(limit)], stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"make-corpus: the heap builder failed (exit {child.wait()})")
        os.kill(child.pid, signal.SIGSTOP)  # it stops itself too; this makes sure
        wait_stopped(child.pid)
        regions = anon_regions(child.pid)
        total = sum(end - start for start, end, _ in regions)
        log(f"python: pid {child.pid} stopped; {len(regions)} anonymous rw regions, {total / MIB:.1f} MiB mapped")
        written = 0
        with open(f"/proc/{child.pid}/mem", "rb", buffering=0) as mem, open(tmp, "wb") as dst:
            for start, end, _ in regions:
                addr = start
                while addr < end and written < target:
                    n = min(end - addr, target - written, 16 * MIB)
                    try:
                        mem.seek(addr)
                        data = mem.read(n)
                    except OSError:
                        data = b""
                    data = data[: len(data) // PAGE * PAGE]  # whole pages only
                    if not data:  # an unreadable page (a guard page): skip it
                        addr += PAGE
                        continue
                    dst.write(data)
                    written += len(data)
                    addr += len(data)
                if written >= target:
                    break
    finally:
        child.kill()
        child.wait()
    return written


def make_exec():
    names = sorted(e.name for e in os.scandir("/usr/bin") if e.is_file(follow_symlinks=False))
    written, used = 0, 0
    with open(tmp, "wb") as dst:
        for name in names:
            if written >= target:
                break
            try:
                with open(os.path.join("/usr/bin", name), "rb") as src:
                    data = src.read(target - written)
            except OSError:
                continue
            dst.write(data)
            written += len(data)
            used += 1
        cut = written // PAGE * PAGE  # whole pages only
        dst.truncate(cut)
    log(f"exec: {used} of {len(names)} regular files in /usr/bin")
    return cut


written = make_python() if kind == "python" else make_exec()
if written == 0:
    os.unlink(tmp)
    raise SystemExit("make-corpus: nothing was written")
os.replace(tmp, out)
note = "" if written == target else f" (short of the {size_mib} MiB asked)"
log(f"{kind}: wrote {written} bytes ({written / MIB:.1f} MiB, {written // PAGE} pages) to {out}{note}")
PYTHON
