#!/usr/bin/env bash
# Installs every Debian 12 package medseal needs to build, test, fuzz and benchmark.
# Idempotent and non-interactive: safe to run again; it only installs what is missing.
set -euo pipefail

PKGS=(
  # build
  build-essential cmake pkg-config clang clang-14 libclang-rt-14-dev llvm
  # libraries
  libssl-dev libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libsqlite3-dev zlib1g-dev
  libicu-dev libsodium-dev libpq-dev
  # peers and test tools (differential tests, benchmarks)
  python3 python3-pydicom python3-numpy dcmtk libgdcm-tools dicom3tools
  rsyslog rsyslog-gnutls testssl.sh wrk nginx-light nodejs curl openssl
  postgresql-15 haproxy orthanc orthanc-dicomweb chromium
  # word lists for the PHI scrubber
  wamerican
)

missing=()
# npm: Debian ships it apart from nodejs; a machine whose nodejs already carries npm needs none
if ! command -v npm >/dev/null 2>&1; then PKGS+=(npm); fi
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
