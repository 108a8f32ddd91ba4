#!/usr/bin/env bash
# The main job: the tile server on the bundled demo mosaic (generated on first run, no network,
# no cloud account). Prints the viewer URL; PORT (default 8080) and every MOSAIC_* setting apply.
#   bash scripts/serve.sh              # demo mosaic
#   bash scripts/serve.sh MOSAIC_URI   # another mosaic (allowed: the demo and the working directory,
#                                      # or set MOSAIC_ALLOWED_URLS)
set -euo pipefail
cd "$(dirname "$0")/.."
bash infra/install-deps.sh
exec cargo run --release -q -p tiler -- "$@"
