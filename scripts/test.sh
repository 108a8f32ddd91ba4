#!/usr/bin/env bash
# Runs every test of the workspace from a clean checkout: installs the system packages
# it needs, builds, and runs unit, doc and integration tests (parity with cogeo-mosaic
# over ../shared/refdata/public, or $MOSAIC_REFDATA), starting the local cloud-service
# emulators the backend tests talk to.
set -euo pipefail
cd "$(dirname "$0")/.."

bash infra/install-deps.sh --browser
# sam, cfn-lint and cargo-lambda, for the template's lint test (tests/tests/template.rs).
bash infra/tools.sh

if [ ! -d "${MOSAIC_REFDATA:-../shared/refdata/public}" ]; then
  echo "reference data not found at ${MOSAIC_REFDATA:-../shared/refdata/public}" >&2
  exit 1
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# Features per layer: the core alone, each function alone, what none of them may link.
bash scripts/check-features.sh
# The CLI tests run the `mosaic` binary: build it first.
cargo build --workspace --bins
log=$(mktemp)
svc_env=$(mktemp)
trap 'bash infra/services.sh stop >/dev/null 2>&1 || true; rm -f "$log" "$svc_env"' EXIT
# Local S3 (moto), GCS (emulator), Azure Blob (Azurite) and HTTP for the backend tests.
bash infra/services.sh start "$svc_env"
# shellcheck disable=SC1090
source "$svc_env"
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
bash bench/load.sh --short || status=$?  # bounded loopback load (debug, 8 connections, 10 s)
set -e
# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "summary: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
