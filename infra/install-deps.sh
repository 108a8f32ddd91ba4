#!/usr/bin/env bash
# Installs the system packages the workspace builds and tests against (Debian 12):
# GDAL 3.6 (libgdal-dev for the `gdal` crate, gdal-bin for checks) and, with `--browser`,
# Chromium for the viewer's browser test plus what infra/services.sh needs for the local
# cloud-service emulators (python3-venv, nodejs, npm, PostgreSQL 15 + PostGIS 3 under the
# STAC API) and docker-compose (validates infra/localstack offline). With `--bundle`, what
# the statically linked GDAL of the Lambda artifacts builds with (scripts/package.sh): CMake,
# a C++ compiler, perl and make (OpenSSL), and the static zstd and WebP archives.
# Flags combine. Idempotent.
# apt-get can fail once on these machines (the image deletes .debs between dpkg runs);
# the install is retried.
set -euo pipefail

pkgs=(libgdal-dev gdal-bin pkg-config)
for flag in "$@"; do
  case "$flag" in
    --browser)
      pkgs+=(chromium fonts-dejavu-core python3-venv postgresql-15 postgresql-15-postgis-3 docker-compose)
      # Node may come from elsewhere than Debian (nvm, NodeSource); only ask apt when absent.
      command -v node >/dev/null || pkgs+=(nodejs)
      command -v npm >/dev/null || pkgs+=(npm)
      ;;
    --bundle) pkgs+=(cmake g++ make perl libzstd-dev libwebp-dev zip python3-venv) ;;
    *) echo "usage: $0 [--browser] [--bundle]" >&2; exit 64 ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "[install-deps] apt-get install ${missing[*]}" >&2
$SUDO apt-get update -qq
for attempt in 1 2 3; do
  if DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null; then
    exit 0
  fi
  echo "[install-deps] apt-get install failed (attempt $attempt), retrying" >&2
  sleep 2
done
echo "[install-deps] could not install ${missing[*]}" >&2
exit 1
