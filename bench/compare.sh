#!/usr/bin/env bash
# Mosaic creation benchmark: our `mosaic create-from-features` against cogeo-mosaic 9.2.0
# (installed into bench/.venv) on the same footprints, in one run. Prints wall time and
# peak RSS of both, their ratios, and checks that both `tiles` maps are identical.
#
#   bash bench/compare.sh [FOOTPRINTS] [MINZOOM] [MAXZOOM]
#   (default: $MOSAIC_REFDATA/footprints/fp_100k.geojson.gz 7 12)
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
FOOTPRINTS="${1:-$SET/footprints/fp_100k.geojson.gz}"
MINZOOM="${2:-7}"
MAXZOOM="${3:-12}"

if [ ! -x /usr/bin/time ]; then
  apt-get install -y -qq time >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
fi
ensure_peer "import importlib.metadata as m, cogeo_mosaic; assert m.version('cogeo-mosaic') == '9.2.0'" 'cogeo-mosaic==9.2.0'
(cd "$ROOT" && cargo build -q --release -p mosaic --bin mosaic)

cat > "$OUT/peer_create.py" <<'PY'
import gzip, json, sys
from cogeo_mosaic.mosaic import MosaicJSON
path, minzoom, maxzoom, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
raw = open(path, "rb").read()
if raw[:2] == b"\x1f\x8b":
    raw = gzip.decompress(raw)
features = json.loads(raw)["features"]
mosaic = MosaicJSON.from_features(features, minzoom=minzoom, maxzoom=maxzoom,
                                  accessor=lambda f: f["properties"]["path"])
open(out, "w").write(mosaic.model_dump_json(exclude_none=True))
PY

# Runs in this shell (not a subshell) so that a failing command stops the script.
# GNU time's -f line is the last line of its -o file (a failure adds a line before it).
measure() { # label, command...
  local label=$1; shift
  if ! /usr/bin/time -f '%e %M' -o "$OUT/$label.time" "$@" >/dev/null; then
    echo "error: the $label command failed: $*" >&2
    exit 1
  fi
}

[ -f "$FOOTPRINTS" ] || { echo "error: no footprint file $FOOTPRINTS" >&2; exit 1; }
rm -f "$OUT/rust.json" "$OUT/python.json" "$OUT/rust.time" "$OUT/python.time"
measure rust "$ROOT/target/release/mosaic" create-from-features \
  --minzoom "$MINZOOM" --maxzoom "$MAXZOOM" --property path -q -o "$OUT/rust.json" "$FOOTPRINTS"
measure python "$VENV/bin/python" "$OUT/peer_create.py" "$FOOTPRINTS" "$MINZOOM" "$MAXZOOM" "$OUT/python.json"
read -r rs_wall rs_rss < <(tail -n 1 "$OUT/rust.time")
read -r py_wall py_rss < <(tail -n 1 "$OUT/python.time")

same=$("$VENV/bin/python" - "$OUT/rust.json" "$OUT/python.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]), object_pairs_hook=lambda kv: kv)
b = json.load(open(sys.argv[2]), object_pairs_hook=lambda kv: kv)
ta = dict(a)["tiles"]; tb = dict(b)["tiles"]
print("yes" if ta == tb else "no")
PY
)

python3 - "$rs_wall" "$rs_rss" "$py_wall" "$py_rss" "$same" "$(basename "$FOOTPRINTS")" "$MINZOOM" "$MAXZOOM" <<'PY'
import sys
rw, rr, pw, pr, same, name, zmin, zmax = sys.argv[1:]
rw, rr, pw, pr = float(rw), int(rr) / 1024, float(pw), int(pr) / 1024
speed = pw / rw if rw > 0 else float("inf")
mem = rr / pr if pr > 0 else 0
print(f"\nmosaic creation from {name}, minzoom={zmin} maxzoom={zmax}\n")
print("| impl | wall s | peak RSS MiB |")
print("|---|---:|---:|")
print(f"| mosaic (Rust) | {rw:.2f} | {rr:.0f} |")
print(f"| cogeo-mosaic 9.2.0 | {pw:.2f} | {pr:.0f} |")
print(f"\nspeed-up: {speed:.1f}x (target >= 50x: {'met' if speed >= 50 else 'NOT met'})")
print(f"memory: {mem:.3f} of the peer's (target <= 0.2: {'met' if mem <= 0.2 else 'NOT met'})")
print(f"same output: {same} (tiles: same quadkeys in the same order, same asset lists)")
PY
[ "$same" = "yes" ] || { echo "error: the two tiles maps differ" >&2; exit 1; }
