#!/usr/bin/env bash
# bench-nbd.sh: `uzram serve` beside nbdkit's memory plugin (allocator=zstd,
# the same export size), both behind nbdcopy over a Unix socket, in one run.
#
#   scripts/bench-nbd.sh CORPUS [ALGO...]        (ALGO default: zstd lz4)
#
# CORPUS is a file of pages, e.g. from `scripts/make-corpus.sh python OUT 512`.
# For each ALGO, and REPEAT times (fresh servers each time):
#   1. start nbdkit -U SOCK memory SIZE allocator=zstd, and
#      uzram serve --size SIZE --algo ALGO $UZRAM_ARGS --unix SOCK (SIZE = the
#      corpus size);
#   2. write: nbdcopy CORPUS URI (timed), then VmRSS of the server (after 1 s);
#   3. read:  nbdcopy URI null: (timed; the data is served and dropped);
#   4. verify: nbdcopy URI - | cmp - CORPUS (not timed).
# The servers run one after the other, never at the same time. Prints a
# Markdown table on stdout (best throughput of the repeats, median RSS) with
# the command line and the targets: uzram >= 2x nbdkit's write and >= 3x its
# read throughput, RSS per byte stored <= 1.05x nbdkit's. nbdkit has no lz4
# allocator, so the lz4 table compares uzram-lz4 with nbdkit-zstd.
#
# Environment: UZRAM (the uzram program; default: a Release build in
# BUILD_DIR, made if missing), BUILD_DIR (build), REPEAT (3), NBDCOPY_ARGS
# (extra nbdcopy options, default none: nbdcopy's own defaults, identical for
# both servers), UZRAM_ARGS (extra uzram serve options, e.g. "--unit 32K" for
# nbdkit's own 32 KiB unit; shown in the table). Needs nbdcopy, nbdinfo
# (libnbd-bin), nbdkit, python3.
# Exit status: 0 when every copy verified, 1 otherwise (targets missed are
# reported in the table, not in the status).
set -euo pipefail

usage() {
  sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
[[ $# -ge 1 ]] || usage
corpus=$1
shift
algos=("$@")
[[ ${#algos[@]} -gt 0 ]] || algos=(zstd lz4)
[[ -f "$corpus" ]] || { echo "bench-nbd: no corpus file '$corpus' (make one with scripts/make-corpus.sh)" >&2; exit 2; }
for tool in nbdcopy nbdinfo nbdkit python3 cmp; do
  command -v "$tool" >/dev/null || { echo "bench-nbd: $tool is needed (scripts/debian-packages.txt)" >&2; exit 2; }
done

cd "$(dirname -- "$0")/.."
build_dir=${BUILD_DIR:-build}
uzram=${UZRAM:-}
if [[ -z "$uzram" ]]; then
  uzram=$build_dir/src/cli/uzram
  if [[ ! -x "$uzram" ]]; then
    echo "bench-nbd: building a Release uzram in $build_dir" >&2
    cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
    ninja -C "$build_dir" uzram_cli >&2
  fi
fi
uzram=$(realpath -- "$uzram")
corpus=$(realpath -- "$corpus")
command_line="scripts/bench-nbd.sh $(basename -- "$corpus") ${algos[*]}"
[[ -z "${UZRAM_ARGS:-}" ]] || command_line="UZRAM_ARGS='$UZRAM_ARGS' $command_line"

exec python3 - "$uzram" "$corpus" "${REPEAT:-3}" "${NBDCOPY_ARGS:-}" "$command_line" "${UZRAM_ARGS:-}" "${algos[@]}" <<'PYTHON'
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time

uzram, corpus, repeat, nbdcopy_args, command_line, uzram_args = sys.argv[1:7]
algos = sys.argv[7:]
uzram_extra = shlex.split(uzram_args)
repeat = max(1, int(repeat))
extra = shlex.split(nbdcopy_args)
size = os.path.getsize(corpus)
MB = 1e6
MiB = 1 << 20


def log(*a):
    print("bench-nbd:", *a, file=sys.stderr, flush=True)


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def wait_ready(uri, proc, what):
    for _ in range(200):  # 20 s
        if proc.poll() is not None:
            raise SystemExit(f"bench-nbd: {what} exited early: {proc.stdout.read() if proc.stdout else ''}")
        if subprocess.run(["nbdinfo", "--size", uri], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    raise SystemExit(f"bench-nbd: {what} did not come up")


def stop(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.stdout.read() if proc.stdout else ""


def measure(kind, algo, tmp):
    sock = os.path.join(tmp, f"{kind}.sock")
    uri = f"nbd+unix:///?socket={sock}"
    if os.path.exists(sock):
        os.unlink(sock)  # nbdkit leaves its socket file behind and will not reuse it
    if kind == "nbdkit":
        cmd = ["nbdkit", "-U", sock, "-f", "memory", str(size), "allocator=zstd"]
    else:
        cmd = [uzram, "serve", "--size", str(size), "--algo", algo, *uzram_extra, "--unix", sock]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_ready(uri, proc, kind)
        rss_idle = rss(proc.pid)
        t0 = time.monotonic()
        subprocess.run(["nbdcopy", *extra, corpus, uri], check=True)
        t_write = time.monotonic() - t0
        # Once nbdcopy has gone, give the server a moment to close its
        # connections (both servers alike), then take its resident set.
        time.sleep(1.0)
        rss_full = rss(proc.pid)
        t0 = time.monotonic()
        subprocess.run(["nbdcopy", *extra, uri, "null:"], check=True)
        t_read = time.monotonic() - t0
        pipe = subprocess.Popen(["nbdcopy", uri, "-"], stdout=subprocess.PIPE)
        verified = subprocess.run(["cmp", "-s", "-", corpus], stdin=pipe.stdout).returncode == 0
        pipe.stdout.close()
        verified = pipe.wait() == 0 and verified
    finally:
        out = stop(proc)
    if kind == "uzram" and "stopped by SIGTERM" not in out:
        log("uzram did not print its final statistics:", out.strip())
    return {"write": size / MB / t_write, "read": size / MB / t_read, "rss": rss_full, "rss_idle": rss_idle,
            "verified": verified, "final": out.strip().splitlines()[-1] if out.strip() else ""}


def fmt_ratio(value, target, higher_is_better=True):
    ok = value >= target if higher_is_better else value <= target
    sign = ">=" if higher_is_better else "<="
    return f"{value:.2f}x ({'met' if ok else 'MISSED'}: {sign} {target}x)"


# Warm the page cache so that neither server pays for reading the corpus from disk.
with open(corpus, "rb") as f:
    while f.read(8 << 20):
        pass

print(f"Command: `{command_line}`  ")
print(f"Corpus: {os.path.basename(corpus)}, {size} bytes ({size / MiB:.1f} MiB); nbdcopy over a Unix socket"
      f"{' with ' + nbdcopy_args if nbdcopy_args else ''}; best of {repeat} (RSS: median); "
      f"{os.cpu_count()} CPUs, {os.uname().release}")
all_ok = True
with tempfile.TemporaryDirectory(prefix="bench-nbd-") as tmp:
    for algo in algos:
        results = {"nbdkit": [], "uzram": []}
        for r in range(repeat):
            for kind in ("nbdkit", "uzram"):
                log(f"{algo}: run {r + 1}/{repeat}: {kind}")
                results[kind].append(measure(kind, algo, tmp))
        row = {}
        for kind, runs in results.items():
            row[kind] = {
                "write": max(x["write"] for x in runs),
                "read": max(x["read"] for x in runs),
                "rss": statistics.median(x["rss"] for x in runs),
                "rss_idle": statistics.median(x["rss_idle"] for x in runs),
                "verified": all(x["verified"] for x in runs),
            }
            all_ok = all_ok and row[kind]["verified"]
        print()
        print(f"### uzram --algo {algo}{' ' + uzram_args if uzram_args else ''} vs nbdkit memory allocator=zstd")
        print()
        print("| server | write MB/s | read MB/s | RSS after write MiB | RSS idle MiB | RSS bytes per byte stored |"
              " bytes stored / RSS | verified |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        for kind, label in (("nbdkit", "nbdkit memory allocator=zstd"),
                            ("uzram", f"uzram serve --algo {algo}{' ' + uzram_args if uzram_args else ''}")):
            x = row[kind]
            print(f"| {label} | {x['write']:.0f} | {x['read']:.0f} | {x['rss'] / MiB:.1f} | {x['rss_idle'] / MiB:.1f} |"
                  f" {x['rss'] / size:.4f} | {size / x['rss']:.2f} | {'yes' if x['verified'] else 'NO'} |")
        finals = [x["final"] for x in results["uzram"] if x["final"]]
        u, k = row["uzram"], row["nbdkit"]
        print(f"| uzram / nbdkit | {fmt_ratio(u['write'] / k['write'], 2)} | {fmt_ratio(u['read'] / k['read'], 3)} |"
              f" | | {fmt_ratio(u['rss'] / k['rss'], 1.05, False)} | | |")
        if finals:
            print()
            print(f"uzram's last line: `{finals[-1]}`")
sys.exit(0 if all_ok else 1)
PYTHON
