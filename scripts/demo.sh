#!/usr/bin/env bash
# A tour of the `mosaic` CLI (the tile server is scripts/serve.sh): build mosaics from the
# reference COGs and footprints, describe them and look assets up. No cloud account.
set -euo pipefail
cd "$(dirname "$0")/.."
bash infra/install-deps.sh
cargo build --release -p mosaic --bin mosaic
bin="$PWD/target/release/mosaic"
set_dir="${MOSAIC_REFDATA:-$PWD/../shared/refdata/public}"
out="$PWD/target/demo"
mkdir -p "$out"
cd "$set_dir"
"$bin" create cogs/list_rgb.txt -o "$out/rgb.json"
"$bin" info "$out/rgb.json"
echo "assets at (14.7, 45.2):"
"$bin" assets "$out/rgb.json" --point 14.7 45.2
"$bin" create-from-features --minzoom 7 --maxzoom 12 --property path -o "$out/fp_10k.json.gz" footprints/fp_10k.geojson
"$bin" info "$out/fp_10k.json.gz" --json
echo "assets of tile 4-3-6:"
"$bin" assets "$out/fp_10k.json.gz" --tile 4 3 6 | head -c 400; echo
