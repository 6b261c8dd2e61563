#!/usr/bin/env bash
# Installs every Debian package meterflow needs to build, run and test.
# Idempotent: skips apt when everything is already installed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  librdkafka-dev librocksdb-dev libsimdjson-dev prometheus-cpp-dev
  libboost-dev libboost-container-dev
  libcli11-dev libspdlog-dev libfmt-dev
  libhowardhinnant-date-dev tzdata libabsl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libxxhash-dev libmimalloc-dev
  libsnappy-dev liblz4-dev libzstd-dev libbz2-dev zlib1g-dev liburing-dev
  python3 python3-jsonschema
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
