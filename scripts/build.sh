#!/usr/bin/env bash
# Installs what is missing (setup.sh), then configures (first time only) and builds every
# target into build/ with Ninja, RelWithDebInfo.
#   JOBS=N   parallel compile jobs (default 2: the project's machines have 2 cores, and
#            RocksDB/simdjson-heavy translation units need ~1 GiB each)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build_dir="$root/build"
jobs="${JOBS:-2}"

"$root/scripts/setup.sh"

if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  echo "build: configuring $build_dir (Ninja, RelWithDebInfo)"
  cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
elif ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$build_dir/CMakeCache.txt"; then
  echo "build: $build_dir was configured with another generator than Ninja; remove it and rerun" >&2
  exit 1
fi

echo "build: building with $jobs jobs"
cmake --build "$build_dir" -j "$jobs"

binary="$build_dir/processor/meterflow"
if [ -x "$binary" ]; then
  echo "build: done; the binary is $binary"
else
  echo "build: done; no meterflow binary yet (expected at $binary)"
fi
