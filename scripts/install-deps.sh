#!/usr/bin/env bash
# Installs what building, running and testing Evident needs on Debian 12, and nothing that is
# already there. Debian packages through apt-get; the uap-core rules through npm.
set -euo pipefail
cd "$(dirname "$0")/.."

build_pkgs=(
  build-essential cmake ninja-build pkg-config
  libboost-dev libsimdjson-dev rapidjson-dev nlohmann-json3-dev
  libsqlite3-dev libssl-dev libsodium-dev zlib1g-dev libzstd-dev
  libcli11-dev libspdlog-dev libfmt-dev libtoml11-dev
  libre2-dev libyaml-cpp-dev libcurl4-openssl-dev libjemalloc-dev
  nodejs npm
)
test_pkgs=(libgtest-dev libgmock-dev googletest libbenchmark-dev sqlite3 python3)

want=("${build_pkgs[@]}")
case "${1:-build}" in
  test | bench) want+=("${test_pkgs[@]}") ;;
esac

missing=()
for pkg in "${want[@]}"; do
  # npm may come with the machine's Node.js rather than from Debian.
  if [ "$pkg" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
  if [ "$pkg" = nodejs ] && command -v node >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -f third_party/node_modules/uap-core/regexes.yaml ]; then
  (cd third_party && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
if [ "${1:-build}" = test ] && [ ! -d tests/oauth_client/node_modules/oauth4webapi ]; then
  (cd tests/oauth_client && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
