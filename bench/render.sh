#!/usr/bin/env bash
# Tile rendering benchmark: the same tiles of the reference COG mosaics rendered by our
# engine (default concurrency, and one read at a time), by a bare GDAL warp of the same
# windows, and by rio-tiler's MosaicBackend.tile (cogeo-mosaic 9.2.0 + rio-tiler, in
# bench/.venv), in one run. Prints tiles/s and the ratios.
#
#   bash bench/render.sh            (BENCH_ROUNDS=5 by default)
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
ROUNDS="${BENCH_ROUNDS:-5}"
ensure_peer "import cogeo_mosaic" 'cogeo-mosaic==9.2.0'

(cd "$ROOT" && MOSAIC_REFDATA="$SET" BENCH_ROUNDS="$ROUNDS" cargo bench -q -p mosaic --bench render) > "$OUT/render_rust.txt"

cat > "$OUT/peer_render.py" <<'PY'
import json, os, sys, time
from cogeo_mosaic.backends import MosaicBackend
set_dir, rounds = sys.argv[1], int(sys.argv[2])
os.chdir(set_dir)
jobs = []
for r in json.load(open("renders/manifest.json"))["renders"]:
    if "error" in r:
        continue
    job = (r["mosaic"], r["tile"]["x"], r["tile"]["y"], r["tile"]["z"])
    if job not in jobs:
        jobs.append(job)
def run():
    for m, x, y, z in jobs:
        with MosaicBackend(m) as src:
            src.tile(x, y, z)
run()  # warm-up
start = time.perf_counter()
for _ in range(rounds):
    run()
print(f"rio_tiler_tiles_per_s {rounds * len(jobs) / (time.perf_counter() - start):.2f}")
PY
"$VENV/bin/python" "$OUT/peer_render.py" "$SET" "$ROUNDS" 2>/dev/null > "$OUT/render_python.txt"

python3 - "$OUT/render_rust.txt" "$OUT/render_python.txt" <<'PY'
import sys
vals = {}
for f in sys.argv[1:]:
    for line in open(f):
        k, v = line.split()
        vals[k] = float(v)
ours, seq, bare, rio = (vals["ours_tiles_per_s"], vals["ours_sequential_tiles_per_s"],
                        vals["bare_gdal_warp_tiles_per_s"], vals["rio_tiler_tiles_per_s"])
print(f"\nmosaic tile rendering, {int(vals['tiles'])} tiles of the reference COG mosaics (256x256, pixel_selection=first)\n")
print("| engine | tiles/s |")
print("|---|---:|")
print(f"| mosaic (Rust, concurrent reads) | {ours:.1f} |")
print(f"| mosaic (Rust, one read at a time) | {seq:.1f} |")
print(f"| bare GDAL warp of every candidate asset, sequential | {bare:.1f} |")
print(f"| rio-tiler MosaicBackend.tile | {rio:.1f} |")
print(f"\nspeed vs rio-tiler: {ours / rio:.2f}x (target >= 3x: {'met' if ours / rio >= 3 else 'NOT met'})")
print(f"time vs bare GDAL warp (one read at a time): {bare / seq:.2f}x (target <= 1.2x: {'met' if bare / seq <= 1.2 else 'NOT met'})")
PY
