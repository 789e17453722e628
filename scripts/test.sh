#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this):
#   1. install missing packages (scripts/install-deps.sh);
#   2. a RelWithDebInfo build and every test (ctest);
#   3. an AddressSanitizer + UBSan build and every test;
#   4. a clang ThreadSanitizer build (also compiled with -Wthread-safety as an
#      error) and the concurrency stress tests (label "stress").
# Usage: scripts/test.sh [--quick]   (--quick: step 2 only)
# Build trees: build/test, build/asan, build/tsan. Exit status: non-zero when
# any step fails; the last line says which.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh || exit 1
jobs=$(nproc)
failed=()

step() {  # step NAME BUILD_DIR "CMAKE ARGS" "CTEST ARGS"
  local name=$1 dir=$2 cmake_args=$3 ctest_args=$4
  echo "=== $name: configure and build ($dir)"
  # shellcheck disable=SC2086
  if ! cmake -S . -B "$dir" -G Ninja -DUZRAM_BUILD_BENCH=ON $cmake_args >"$dir.configure.log" 2>&1; then
    cat "$dir.configure.log"; failed+=("$name (configure)"); return
  fi
  if ! ninja -C "$dir" -j "$jobs" >"$dir.build.log" 2>&1; then
    tail -50 "$dir.build.log"; failed+=("$name (build)"); return
  fi
  echo "=== $name: tests"
  # shellcheck disable=SC2086
  (cd "$dir" && ctest --output-on-failure -j "$jobs" $ctest_args) || failed+=("$name (tests)")
}

mkdir -p build
step "normal" build/test "-DCMAKE_BUILD_TYPE=RelWithDebInfo" ""
if [ "${1:-}" != "--quick" ]; then
  step "asan+ubsan" build/asan "-DCMAKE_BUILD_TYPE=Debug -DUZRAM_SANITIZE=address,undefined" ""
  step "tsan" build/tsan "-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DUZRAM_SANITIZE=thread -DUZRAM_THREAD_SAFETY=ON" "-L stress"
fi

if [ ${#failed[@]} -eq 0 ]; then
  echo "test suite: all steps passed"
  exit 0
fi
echo "test suite: FAILED: ${failed[*]}"
exit 1
