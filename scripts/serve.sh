#!/usr/bin/env bash
# The main job: the tile server on the bundled demo mosaic (generated on first run, no network,
# no cloud account). Prints the viewer URL last; PORT (default 8080) and every MOSAIC_* setting
# apply.
#   bash scripts/serve.sh              # demo mosaic
#   bash scripts/serve.sh MOSAIC_URI   # another mosaic (allowed: the demo and the working directory,
#                                      # or set MOSAIC_ALLOWED_URLS)
set -euo pipefail
cd "$(dirname "$0")/.."
bash infra/install-deps.sh
bin="${CARGO_TARGET_DIR:-target}/release/tiler"
if [ ! -x "$bin" ]; then
  echo "[serve] first run: building the tile server (release); this takes about 10 minutes on 2 cores" \
    "(GDAL bindings, the AWS SDK, the image codecs). Later runs start in seconds. Progress follows." >&2
else
  echo "[serve] building the tile server if sources changed (release)" >&2
fi
# Not quiet: cargo's progress shows the build is moving.
exec cargo run --release -p tiler -- "$@"
