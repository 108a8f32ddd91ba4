#!/usr/bin/env bash
# Builds the Lambda artifacts for provided.al2023 (x86_64), in cargo-lambda's layout:
#   target/lambda/{tiler,ingest,stac-mosaic}/bootstrap and bootstrap.zip
# GDAL, PROJ (proj.db inside), curl and OpenSSL are built from source and linked into the
# tiler and ingest (feature `bundled-gdal`, set in each function's
# [package.metadata.lambda.build], which `sam build` reads too); stac-mosaic has no GDAL.
# Then checks every artifact (scripts/check-artifacts.sh) and runs the tiler and ingest
# artifacts alone, in an empty folder with an empty environment, against loopback HTTP and
# moto S3 (tests/tests/artifacts.rs). docs/deploy.md.
#
#   bash scripts/package.sh            # build, check, run (first run: ~40 min on 2 cores)
#   bash scripts/package.sh --build    # build only
set -euo pipefail
cd "$(dirname "$0")/.."

build_only=false
case "${1:-}" in
  "") ;;
  --build) build_only=true ;;
  *) echo "usage: $0 [--build]" >&2; exit 64 ;;
esac

bash infra/install-deps.sh --bundle
bash infra/tools.sh
export PATH="$PWD/target/tools/venv/bin:$PATH"

start=$SECONDS
for function in tiler ingest stac-mosaic; do
  echo "[package] $function" >&2
  # As `sam build` does (CodeUri: functions/NAME): from the package's folder, so that cargo
  # resolves its features alone; features and compiler come from [package.metadata.lambda.build].
  (cd "functions/$function" && cargo lambda build --release --bin "$function" --output-format zip)
  # cargo-lambda's zip layout holds the bootstrap; keep it unpacked beside it as well.
  (cd "target/lambda/$function" && rm -f bootstrap && unzip -q -o bootstrap.zip bootstrap)
done
echo "[package] built in $((SECONDS - start)) s" >&2

$build_only && exit 0

bash scripts/check-artifacts.sh target/lambda

# The artifacts on their own, against loopback HTTP and moto S3.
svc_env=$(mktemp)
trap 'bash infra/services.sh stop >/dev/null 2>&1 || true; rm -f "$svc_env"' EXIT
bash infra/services.sh start "$svc_env"
# shellcheck disable=SC1090
source "$svc_env"
MOSAIC_LAMBDA_DIR="$PWD/target/lambda" \
  cargo test -p mosaic-integration-tests --test artifacts --test ingest -- --ignored --test-threads 1
echo "[package] done in $((SECONDS - start)) s" >&2
