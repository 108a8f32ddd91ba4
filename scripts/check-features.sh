#!/usr/bin/env bash
# The library in layers: the core builds with no feature, each function builds on its own
# with only the features it turns on, and none of them links what it must not.
# Run by scripts/test.sh; cheap (cargo check and cargo tree, debug).
set -euo pipefail
cd "$(dirname "$0")/.."

# `forbid PACKAGE "CARGO_ARGS" CRATE...`: fails when a CRATE is in PACKAGE's normal deps.
forbid() {
  local package=$1 args=$2
  shift 2
  # shellcheck disable=SC2086
  local deps
  deps=$(cargo tree -e normal -p "$package" $args --prefix none --format '{p}' | awk '{print $1}' | sort -u)
  local bad=0
  for crate in "$@"; do
    if grep -qx "$crate" <<<"$deps"; then
      echo "check-features: $package ($args) links $crate" >&2
      bad=1
    fi
  done
  return "$bad"
}

status=0
forbid mosaic "--no-default-features" gdal-sys gdal aws-sdk-dynamodb aws-config rusqlite image clap \
  indicatif tracing-subscriber object_store reqwest || status=1
forbid stac-mosaic "" gdal gdal-sys image clap indicatif || status=1
forbid ingest "" image clap indicatif reqwest object_store || status=1
forbid tiler "" clap indicatif || status=1

# Each on its own: features unified across the workspace would hide a missing one.
cargo check --quiet -p mosaic --no-default-features --lib
cargo clippy --quiet -p mosaic --no-default-features --lib --tests -- -D warnings
for f in s3 gcs azure http dynamodb sqlite stac gdal render logging; do
  cargo check --quiet -p mosaic --no-default-features --features "$f" --lib
done
# The core's own tests, without GDAL or any cloud SDK.
cargo test --quiet -p mosaic --no-default-features --lib
for p in tiler ingest stac-mosaic; do
  cargo check --quiet -p "$p" --bins
done
if [ "$status" -ne 0 ]; then
  exit "$status"
fi
echo "check-features: ok"
