#!/usr/bin/env python3
"""End-to-end tests of `uzram bench`, run through the built binary.

usage: bench_command_test.py MODE UZRAM_BINARY
  json            --json on a small mixed file: one JSON object, verified,
                  consistent figures, one entry per round; the readable table;
                  several algorithms and thread counts; --async with its
                  one-thread baseline
  bad-arguments   missing/empty/unreadable input, unknown algorithm, --threads
                  or --rounds out of range: exit code 2, a message on stderr,
                  nothing on stdout
  threads         the phases' shared page cursor and the engine's workers:
                  4 writers, and --async with 3 workers, 2 rounds each, all
                  pages verified (run under ThreadSanitizer in CI)
  compare-kernel  --compare-kernel: the kernel's figures, and zram0 reset after;
                  a zram0 held by another uzram process is skipped as busy
  sigint          SIGINT while zram0 is configured: the device is reset and the
                  process dies of SIGINT

Exit code 77 (CTest SKIP_RETURN_CODE) when zram0 cannot be used here.
"""
import fcntl
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

PAGE = 4096
SKIP = 77
ZRAM = "/sys/block/zram0"

ZERO_PAGES, TEXT_PAGES, RANDOM_PAGES, FILLED_PAGES, TAIL_BYTES = 64, 200, 64, 16, 1000
WORDS = ("the quick brown fox jumps over a lazy dog while python dicts hold strings "
         "floats ints lists and tuples of memory pages compressed by uzram").split()


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def text_bytes(rng, n):
    out = bytearray()
    while len(out) < n:
        out += (rng.choice(WORDS) + " ").encode()
    return bytes(out[:n])


def make_mixed_file(path, seed=1):
    """Zero pages, text pages, random pages, pages of one repeated word, and a
    partial last page of text; interleaved so every thread's share gets some."""
    rng = random.Random(seed)
    kinds = (["zero"] * ZERO_PAGES + ["text"] * TEXT_PAGES + ["random"] * RANDOM_PAGES +
             ["filled"] * FILLED_PAGES)
    rng.shuffle(kinds)
    with open(path, "wb") as f:
        for kind in kinds:
            if kind == "zero":
                f.write(bytes(PAGE))
            elif kind == "text":
                f.write(text_bytes(rng, PAGE))
            elif kind == "random":
                f.write(rng.randbytes(PAGE))
            else:
                f.write(b"\x5a\xa5\x01\x02\x03\x04\x05\x06" * (PAGE // 8))
        f.write(text_bytes(rng, TAIL_BYTES))
    return len(kinds) + 1


def run(binary, *args, expect_rc=0):
    p = subprocess.run([binary, "bench", *args], capture_output=True, text=True)
    if expect_rc is not None and p.returncode != expect_rc:
        fail(f"uzram bench {' '.join(args)}: exit {p.returncode}, expected {expect_rc}\n"
             f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def one_json_object(stdout):
    decoder = json.JSONDecoder()
    text = stdout.strip()
    try:
        obj, end = decoder.raw_decode(text)
    except json.JSONDecodeError as e:
        fail(f"stdout is not JSON ({e}): {stdout!r}")
    check(text[end:].strip() == "", f"more than one JSON object on stdout: {text[end:]!r}")
    check(isinstance(obj, dict), "the JSON is not an object")
    return obj


def check_side(side, pages, name, check_rss):
    for key in ("algo", "threads", "pages", "orig_bytes", "compr_bytes", "mem_used_bytes", "same_pages",
                "huge_pages", "write_MBps", "read_MBps", "verified"):
        check(key in side, f"{name}: no field {key}")
    check(side["verified"] is True, f"{name}: not verified: {side}")
    check(side["pages"] == pages, f"{name}: pages {side['pages']} != {pages}")
    check(side["orig_bytes"] == pages * PAGE, f"{name}: orig_bytes {side['orig_bytes']} != {pages * PAGE}")
    check(side["same_pages"] == ZERO_PAGES + FILLED_PAGES,
          f"{name}: same_pages {side['same_pages']} != {ZERO_PAGES + FILLED_PAGES}")
    check(side["huge_pages"] == RANDOM_PAGES, f"{name}: huge_pages {side['huge_pages']} != {RANDOM_PAGES}")
    check(0 < side["compr_bytes"] < side["orig_bytes"], f"{name}: compr_bytes {side['compr_bytes']}")
    check(side["mem_used_bytes"] >= side["compr_bytes"],
          f"{name}: mem_used_bytes {side['mem_used_bytes']} < compr_bytes {side['compr_bytes']}")
    check(side["write_MBps"] > 0 and side["read_MBps"] > 0, f"{name}: no speed")
    check(side["write_cpu_seconds"] > 0 and side["read_cpu_seconds"] > 0, f"{name}: no CPU time")
    rounds = side["rounds"]
    check(isinstance(rounds, list) and len(rounds) >= 1, f"{name}: rounds {rounds!r}")
    # The figures at the top are the best round's.
    check(abs(max(r["write_MBps"] for r in rounds) - side["write_MBps"]) < 1e-6 * side["write_MBps"],
          f"{name}: write_MBps {side['write_MBps']} is not the best of {rounds}")
    check(abs(max(r["read_MBps"] for r in rounds) - side["read_MBps"]) < 1e-6 * side["read_MBps"],
          f"{name}: read_MBps {side['read_MBps']} is not the best of {rounds}")
    if check_rss:
        check(isinstance(side["rss_anon_delta_bytes"], int), f"{name}: rss_anon_delta_bytes missing")
        check(side["slot_table_bytes"] > 0, f"{name}: slot_table_bytes {side['slot_table_bytes']}")


def test_json(binary, tmp):
    path = os.path.join(tmp, "mixed.bin")
    pages = make_mixed_file(path)
    p = run(binary, "--input", path, "--json", "--threads", "2")
    obj = one_json_object(p.stdout)
    check_side(obj, pages, "uzram", check_rss=True)
    check(obj["algo"] == "lz4" and obj["threads"] == 2, f"algo/threads: {obj['algo']} {obj['threads']}")
    check(obj["input_bytes"] == os.path.getsize(path), "input_bytes")
    check(obj["padding_bytes"] == PAGE - TAIL_BYTES, f"padding_bytes {obj['padding_bytes']}")
    check("kernel" not in obj and "ratios" not in obj, "kernel figures without --compare-kernel")
    check("zero-padded" in p.stderr, f"no note about the padded page: {p.stderr!r}")
    check("\r" not in p.stderr, "a progress line was drawn with --json")
    check(len(obj["rounds"]) == 5, f"default rounds: {len(obj['rounds'])}, expected 5")
    obj = one_json_object(run(binary, "--input", path, "--json", "--rounds", "2").stdout)
    check_side(obj, pages, "uzram, 2 rounds", check_rss=True)
    check(len(obj["rounds"]) == 2, f"--rounds 2 gave {len(obj['rounds'])} rounds")

    # --async: every page through the engine, beside a one-thread synchronous
    # write of each round.
    obj = one_json_object(run(binary, "--input", path, "--json", "--async", "--threads", "2", "--rounds", "2").stdout)
    check_side(obj, pages, "uzram --async", check_rss=True)
    check(obj["async"] is True and obj["engine_stats"]["completed"] == pages,
          f"--async: engine stats {obj.get('engine_stats')}")
    check(obj["submit_p99_us"] >= obj["submit_p50_us"] > 0, f"--async: submit latency {obj['submit_p50_us']}")
    check(len(obj["sync1_rounds_write_MBps"]) == 2 and obj["sync1_write_MBps"] == max(obj["sync1_rounds_write_MBps"]),
          f"--async: sync1 figures {obj['sync1_write_MBps']} {obj['sync1_rounds_write_MBps']}")
    want = obj["write_MBps"] / obj["sync1_write_MBps"]
    check(abs(obj["ratios"]["write_vs_sync1"] - want) < 1e-9 * want, f"--async: ratios {obj['ratios']}")
    p = run(binary, "--input", path, "--async", "--threads", "2", "--rounds", "1")
    check("one synchronous thread" in p.stdout and "submit p50/p99" in p.stdout, f"--async table:\n{p.stdout}")

    for algo in ("lzo", "zstd", "zstd:level=5", "lz4hc", "deflate"):
        for threads in ("1", "3"):
            obj = one_json_object(run(binary, "-i", path, "--json", "--algo", algo, "-t", threads).stdout)
            check_side(obj, pages, f"uzram {algo} x{threads}", check_rss=True)
            check(obj["algo"] == algo, f"algo {obj['algo']} != {algo}")

    # More threads than pages: the extra threads have nothing to do.
    small = os.path.join(tmp, "small.bin")
    with open(small, "wb") as f:
        f.write(text_bytes(random.Random(2), 2 * PAGE))
    obj = one_json_object(run(binary, "--input", small, "--json", "--threads", "8").stdout)
    check(obj["verified"] is True and obj["pages"] == 2, f"2 pages, 8 threads: {obj}")

    # The readable table.
    p = run(binary, "--input", path, "--threads", "2")
    for row in ("write MB/s", "read MB/s", "orig/compr", "mem_used MiB", "same pages", "huge pages",
                "RSS delta", "verified"):
        check(row in p.stdout, f"table has no row {row!r}:\n{p.stdout}")
    check("kernel zram" not in p.stdout, "kernel column without --compare-kernel")
    verified_row = [line for line in p.stdout.splitlines() if "verified" in line]
    check(verified_row and "yes" in verified_row[0], f"verified row: {verified_row}")


def test_bad_arguments(binary, tmp):
    empty = os.path.join(tmp, "empty.bin")
    open(empty, "wb").close()
    good = os.path.join(tmp, "good.bin")
    with open(good, "wb") as f:
        f.write(text_bytes(random.Random(3), 4 * PAGE))
    missing = os.path.join(tmp, "no-such-file")
    cases = [
        ((), "--input"),
        (("--input", missing), "no-such-file"),
        (("--input", empty), "empty"),
        (("--input", tmp), "not a regular file"),
        (("--input", good, "--algo", "nosuch"), "lz4"),  # the message lists the available ones
        (("--input", good, "--threads", "0"), "--threads"),
        (("--input", good, "--threads", "257"), "--threads"),
        (("--input", good, "--rounds", "0"), "--rounds"),
        (("--input", good, "--rounds", "21"), "--rounds"),
    ]
    for args, needle in cases:
        p = run(binary, *args, "--json", expect_rc=2)
        check(p.stdout == "", f"{args}: stdout not empty: {p.stdout!r}")
        check(needle in p.stderr, f"{args}: stderr lacks {needle!r}: {p.stderr!r}")
        check(p.stderr.startswith("uzram bench: "), f"{args}: message: {p.stderr!r}")
    p = run(binary, "--input", good, "--algo", "nosuch", expect_rc=2)
    for name in ("lz4", "zstd", "lzo", "deflate"):
        check(name in p.stderr, f"unknown algorithm: {name} not listed: {p.stderr!r}")


def test_threads(binary, tmp):
    path = os.path.join(tmp, "mixed.bin")
    pages = make_mixed_file(path)
    for args in (("--threads", "4"), ("--threads", "3", "--async")):
        p = run(binary, "--input", path, "--json", "--rounds", "2", *args)
        obj = one_json_object(p.stdout)
        check_side(obj, pages, f"uzram {' '.join(args)}", check_rss=True)
        check(len(obj["rounds"]) == 2, f"{args}: {len(obj['rounds'])} rounds")
        check("WARNING: ThreadSanitizer" not in p.stderr, f"{args}: {p.stderr}")


def zram_state():
    with open(f"{ZRAM}/initstate") as f:
        initstate = f.read().strip()
    with open(f"{ZRAM}/disksize") as f:
        disksize = f.read().strip()
    return initstate, disksize


def skip_if_kernel_unavailable(obj_or_reason):
    reason = obj_or_reason if isinstance(obj_or_reason, str) else obj_or_reason["kernel"].get("skipped")
    if reason:
        print(f"SKIP: kernel zram unavailable: {reason}", file=sys.stderr)
        sys.exit(SKIP)


def skip_if_kernel_busy(obj):
    """Another user had zram0 during one of the bench's rounds (the bench
    says so with skipped_because or stopped_because "busy"): the test skips,
    whichever of its runs saw it."""
    k = obj["kernel"]
    if "busy" in (k.get("skipped_because"), k.get("stopped_because")):
        skip_if_kernel_unavailable(k.get("skipped") or k.get("stopped"))


def check_zram_reset(what, pages):
    """zram0 is back to its reset state after a bench of `pages` pages; a
    device configured to another size was taken by someone else meanwhile
    (then the test skips: it cannot tell)."""
    state = zram_state()
    if state == ("0", "0"):
        return
    if state[1] != str(pages * PAGE):
        skip_if_kernel_unavailable(f"zram0 was configured by another user during the test {state}")
    fail(f"{what}zram0 left configured: {state}")


def test_compare_kernel(binary, tmp):
    if os.geteuid() != 0 or not os.path.exists(ZRAM):
        skip_if_kernel_unavailable("not root or no zram0")
    if zram_state() != ("0", "0"):
        skip_if_kernel_unavailable(f"zram0 is in use {zram_state()}")
    path = os.path.join(tmp, "mixed.bin")
    pages = make_mixed_file(path)
    p = run(binary, "--input", path, "--json", "--compare-kernel", "--threads", "2")
    obj = one_json_object(p.stdout)
    check_side(obj, pages, "uzram", check_rss=True)
    if "skipped" in obj["kernel"]:
        k = obj["kernel"]
        check(k.get("skipped_because") in ("busy", "unsupported", "error"), f"skip without a kind: {k}")
        check(f"kernel zram skipped ({k['skipped_because']}): {k['skipped']}" in p.stderr, "no skip line on stderr")
        skip_if_kernel_unavailable(obj)
    skip_if_kernel_busy(obj)
    check_side(obj["kernel"], pages, "kernel", check_rss=False)
    check(obj["kernel"]["algo"] == "lz4", f"kernel algo {obj['kernel']['algo']}")
    for key in ("write", "read", "mem_used"):
        check(obj["ratios"][key] > 0, f"ratio {key}: {obj['ratios']}")
    check_zram_reset("", pages)

    # lzo maps to the kernel's lzo; zstd is not offered by this kernel's list
    # (then the comparison is skipped with a reason, and uzram's figures stay).
    with open(f"{ZRAM}/comp_algorithm") as f:
        offered = f.read().replace("[", "").replace("]", "").split()
    for algo in ("lzo", "zstd"):
        p = run(binary, "--input", path, "--json", "--compare-kernel", "--algo", algo)
        obj = one_json_object(p.stdout)
        check_side(obj, pages, f"uzram {algo}", check_rss=True)
        skip_if_kernel_busy(obj)
        if algo in offered:
            check("skipped" not in obj["kernel"], f"{algo}: kernel skipped: {obj['kernel']}")
            check(obj["kernel"]["algo"] == algo and obj["kernel"]["verified"] is True, f"{algo}: {obj['kernel']}")
        else:
            check(algo in obj["kernel"].get("skipped", "") and obj["kernel"].get("skipped_because") == "unsupported",
                  f"{algo}: expected an unsupported skip naming it: {obj['kernel']}")
            check("kernel zram skipped (unsupported):" in p.stderr, f"{algo}: no skip line on stderr: {p.stderr!r}")
        check_zram_reset(f"{algo}: ", pages)

    p = run(binary, "--input", path, "--compare-kernel", "--threads", "2")
    if "kernel zram skipped (busy):" in p.stderr:
        skip_if_kernel_unavailable(p.stderr.strip())
    check("kernel zram" in p.stdout and "ratio" in p.stdout, f"table without the kernel column:\n{p.stdout}")
    verified_row = [line for line in p.stdout.splitlines() if "verified" in line]
    check(verified_row and verified_row[0].split()[1:3] == ["yes", "yes"], f"verified row: {verified_row}")
    check_zram_reset("", pages)

    # Another uzram process holds zram0 (its lock, src/cli/kernel_zram.cc):
    # the kernel side is skipped as busy, uzram's side still runs, and the
    # device is left alone.
    lock_dir = "/run/lock" if os.access("/run/lock", os.W_OK) else "/tmp"
    with open(f"{lock_dir}/uzram-zram0.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            skip_if_kernel_unavailable("another uzram process holds zram0")
        p = run(binary, "--input", path, "--json", "--compare-kernel", "--rounds", "1")
    obj = one_json_object(p.stdout)
    check_side(obj, pages, "uzram (zram0 busy)", check_rss=True)
    k = obj["kernel"]
    check(k.get("skipped_because") == "busy" and "claimed by another uzram process" in k.get("skipped", ""),
          f"zram0 locked: expected a busy skip: {k}")
    check(f"kernel zram skipped (busy): {k['skipped']}" in p.stderr, f"no busy skip line on stderr: {p.stderr!r}")
    check("ratios" not in obj or "write" not in obj["ratios"], f"ratios against a skipped side: {obj.get('ratios')}")
    check(zram_state() == ("0", "0"), f"zram0 touched while locked: {zram_state()}")


def test_sigint(binary, tmp):
    if os.geteuid() != 0 or not os.path.exists(ZRAM):
        skip_if_kernel_unavailable("not root or no zram0")
    if zram_state() != ("0", "0"):
        skip_if_kernel_unavailable(f"zram0 is in use {zram_state()}")
    path = os.path.join(tmp, "big.bin")
    rng = random.Random(4)
    with open(path, "wb") as f:  # 128 MiB: long enough to be caught mid-run
        chunk = text_bytes(rng, 1 << 20) + rng.randbytes(1 << 20)
        for _ in range(64):
            f.write(chunk)
    proc = subprocess.Popen([binary, "bench", "--input", path, "--json", "--compare-kernel"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    configured = False
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        if zram_state()[0] == "1":
            configured = True
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.001)
    out, err = proc.communicate(timeout=120)
    if not configured:
        obj = one_json_object(out)
        skip_if_kernel_unavailable(obj)
        fail(f"the bench finished before zram0 was seen configured (exit {proc.returncode}); stderr: {err!r}")
    check(proc.returncode == -signal.SIGINT, f"exit {proc.returncode}, expected death by SIGINT; stderr: {err!r}")
    check("zram0 reset" in err, f"no reset message: {err!r}")
    check(zram_state() == ("0", "0"), f"zram0 left configured after SIGINT: {zram_state()}")


def main():
    if len(sys.argv) != 3:
        fail(__doc__)
    mode, binary = sys.argv[1], sys.argv[2]
    tests = {"json": test_json, "bad-arguments": test_bad_arguments, "threads": test_threads,
             "compare-kernel": test_compare_kernel, "sigint": test_sigint}
    if mode not in tests:
        fail(f"unknown mode {mode}")
    with tempfile.TemporaryDirectory(prefix="uzram-bench-test-") as tmp:
        tests[mode](binary, tmp)
    print(f"PASS: {mode}")


if __name__ == "__main__":
    main()
