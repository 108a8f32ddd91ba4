#!/usr/bin/env bash
# Cold start of the Lambda artifacts (bash scripts/package.sh --build first), as a table:
#  - first tile: process start -> first tile served, the static tiler artifact alone in an
#    empty folder with an empty environment, local mode, reference COGs on disk; beside it
#    the same for the development build linked to the system GDAL (target/release/tiler,
#    built when missing; DYNAMIC_TILER to point elsewhere);
#  - init: process start -> first poll of the Lambda runtime API, each artifact under
#    cargo-lambda's runtime emulator (bench/cold_start.py).
#   bash bench/cold-start.sh [RUNS]          # default 20 runs per figure
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
runs=${1:-20}
lambda="$ROOT/target/lambda"
for f in tiler ingest stac-mosaic; do
  [ -x "$lambda/$f/bootstrap" ] || { echo "no $lambda/$f/bootstrap: bash scripts/package.sh --build" >&2; exit 1; }
done
dynamic=${DYNAMIC_TILER:-$ROOT/target/release/tiler}
[ -x "$dynamic" ] || (cd "$ROOT" && cargo build --release -p tiler)
cargo_lambda="$ROOT/target/tools/venv/bin/cargo-lambda"
[ -x "$cargo_lambda" ] || bash "$ROOT/infra/tools.sh"

work=$(mktemp -d)
emulator_pid=""
trap '[ -n "$emulator_pid" ] && kill "$emulator_pid" 2>/dev/null; rm -rf "$work"' EXIT
# The reference mosaic with absolute asset paths (the tiler starts in an empty folder).
python3 - "$SET/mosaics/cog_rgb__default.json" "$SET/" "$work/mosaic.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["asset_prefix"] = sys.argv[2]
json.dump(doc, open(sys.argv[3], "w"))
PY
tile=/mosaicjson/tiles/WebMercatorQuad/10/553/367.png
allowed="$work/,$SET/"

# cargo-lambda's emulator reads a manifest even with --only-lambda-apis: an empty package.
mkdir -p "$work/apis/src"
printf '[package]\nname = "apis"\nversion = "0.0.0"\nedition = "2021"\n' > "$work/apis/Cargo.toml"
echo 'fn main() {}' > "$work/apis/src/main.rs"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$work/apis" && exec "$cargo_lambda" lambda watch --only-lambda-apis \
  --invoke-address 127.0.0.1 --invoke-port "$port" >/dev/null 2>&1) &
emulator_pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done

size() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f MB", b / 1048576 }'; }
echo "cold start, $runs runs each (median / min / max, ms)"
printf '%-34s %-12s %s\n' "what" "size" "median min max"
read -r m lo hi < <(python3 "$ROOT/bench/cold_start.py" first-tile "$lambda/tiler/bootstrap" "$work/mosaic.json" "$tile" "$allowed" "$runs")
printf '%-34s %-12s %s %s %s\n' "first tile, static artifact" "$(size "$lambda/tiler/bootstrap.zip")" "$m" "$lo" "$hi"
static=$m
read -r m lo hi < <(python3 "$ROOT/bench/cold_start.py" first-tile "$dynamic" "$work/mosaic.json" "$tile" "$allowed" "$runs")
printf '%-34s %-12s %s %s %s\n' "first tile, system GDAL (dynamic)" "-" "$m" "$lo" "$hi"
awk -v s="$static" -v d="$m" 'BEGIN { printf "ratio static / dynamic: %.2f\n", s / d }'
for f in tiler ingest stac-mosaic; do
  read -r m lo hi < <(python3 "$ROOT/bench/cold_start.py" init "$lambda/$f/bootstrap" "127.0.0.1:$port" "$runs")
  printf '%-34s %-12s %s %s %s\n' "init to first poll, $f" "$(size "$lambda/$f/bootstrap.zip")" "$m" "$lo" "$hi"
done
