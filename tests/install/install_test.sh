#!/usr/bin/env bash
# install_test.sh BUILD_DIR SOURCE_DIR: install, then build consumer.cc with
# pkg-config and with find_package, and run both.
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
libdir=$(find "$work/prefix" -name uzram.pc -printf '%h\n' | head -1)
export PKG_CONFIG_PATH=$libdir
# shellcheck disable=SC2046
c++ -std=c++20 "$src/consumer.cc" -o "$work/consumer_pc" $(pkg-config --cflags --libs uzram)
LD_LIBRARY_PATH="$libdir/.." "$work/consumer_pc" >/dev/null
echo "pkg-config consumer: ok"
mkdir -p "$work/cm"
cat > "$work/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.20)
project(consumer CXX)
set(CMAKE_CXX_STANDARD 20)
find_package(uzram REQUIRED)
add_executable(consumer_cmake $src/consumer.cc)
target_link_libraries(consumer_cmake PRIVATE uzram::uzram)
add_executable(consumer_static $src/consumer.cc)
target_link_libraries(consumer_static PRIVATE uzram::uzram_static)
CM
cmake -S "$work/cm" -B "$work/cm/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
ninja -C "$work/cm/build" >/dev/null
"$work/cm/build/consumer_cmake" >/dev/null
"$work/cm/build/consumer_static" >/dev/null
echo "find_package consumer (shared and static): ok"
