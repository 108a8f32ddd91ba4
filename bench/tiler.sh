#!/usr/bin/env bash
# Tile server benchmark: our `tiler` binary and titiler-mosaic (uvicorn; titiler.mosaic 2.2 +
# cogeo-mosaic 9.2.0 installed into bench/.venv) serve the reference COG mosaics; a bounded
# client on loopback (4 connections) requests the same tile list from both. Prints p50/p95
# latency, tiles/s and the ratio, our start-to-first-tile time and our peak RSS.
#
#   bash bench/tiler.sh        (ROUNDS=3 passes over the tile list by default)
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
ROUNDS="${ROUNDS:-3}"
ensure_peer "import titiler.mosaic, cogeo_mosaic, uvicorn" 'cogeo-mosaic==9.2.0' 'titiler.mosaic[mosaicjson]==2.2.2' 'uvicorn'
(cd "$ROOT" && cargo build -q --release -p tiler)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
P1=$(free_port); P2=$(free_port)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

cat > "$OUT/titiler_app.py" <<'PY'
from fastapi import FastAPI
from cogeo_mosaic.backends import MosaicBackend
from titiler.mosaic.factory import MosaicTilerFactory
app = FastAPI()
app.include_router(MosaicTilerFactory(backend=MosaicBackend).router, prefix="/mosaicjson")
PY

# The tile list: every reference render tile and its four children, for each COG mosaic.
python3 - "$SET" > "$OUT/tiles.txt" <<'PY'
import json, sys, urllib.parse
renders = json.load(open(sys.argv[1] + "/renders/manifest.json"))["renders"]
seen = []
for r in renders:
    if "error" in r:
        continue
    t = r["tile"]
    for z, x, y in [(t["z"], t["x"], t["y"])] + [(t["z"] + 1, 2 * t["x"] + i, 2 * t["y"] + j) for i in (0, 1) for j in (0, 1)]:
        key = (r["mosaic"], z, x, y)
        if key not in seen:
            seen.append(key)
for m, z, x, y in seen:
    print(f"/mosaicjson/tiles/WebMercatorQuad/{z}/{x}/{y}.png?url={urllib.parse.quote(m)}")
PY
FIRST=$(head -1 "$OUT/tiles.txt")

# Ours: start-to-first-tile, measured from the spawn by a poller that costs no process spawns.
FIRST_MS=$(cd "$SET" && PORT=$P1 MOSAIC_ALLOWED_URLS="$SET" RUST_LOG=warn python3 - "$ROOT/target/release/tiler" "$P1" "$FIRST" "$OUT/tiler.pid" <<'PY'
import http.client, subprocess, sys, time
binary, port, path, pidfile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
start = time.perf_counter()
proc = subprocess.Popen([binary, "mosaics/cog_rgb__default.json"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
open(pidfile, "w").write(str(proc.pid))
last = None
while True:
    if time.perf_counter() - start > 30:
        sys.exit(f"no tile after 30 s (last answer: {last})")
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        last = resp.status
        if resp.status in (200, 204):
            break
    except OSError as e:
        last = e
        time.sleep(0.001)
print(round((time.perf_counter() - start) * 1000))
PY
)
TILER_PID=$(cat "$OUT/tiler.pid")
PIDS+=("$TILER_PID")

(cd "$SET" && exec "$VENV/bin/uvicorn" --app-dir "$OUT" titiler_app:app --host 127.0.0.1 --port "$P2" --log-level warning > "$OUT/titiler.log" 2>&1) &
PIDS+=($!)
until curl -s -o /dev/null "http://127.0.0.1:$P2/docs"; do sleep 0.1; done

cat > "$OUT/client.py" <<'PY'
import http.client, queue, statistics, sys, threading, time
port, rounds, conc = int(sys.argv[1]), int(sys.argv[2]), 4
paths = [l.strip() for l in open(sys.argv[3]) if l.strip()]
def run(items):
    q = queue.Queue()
    for p in items:
        q.put(p)
    out, lock = [], threading.Lock()
    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            try:
                p = q.get_nowait()
            except queue.Empty:
                return
            t = time.perf_counter()
            conn.request("GET", p)
            r = conn.getresponse()
            r.read()
            with lock:
                out.append((time.perf_counter() - t, r.status))
    threads = [threading.Thread(target=worker) for _ in range(conc)]
    start = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return out, time.perf_counter() - start
run(paths)  # warm-up
lat, wall = run(paths * rounds)
ms = sorted(l * 1000 for l, _ in lat)
codes = sorted({s for _, s in lat})
print(f"p50 {statistics.median(ms):.2f} p95 {ms[int(0.95 * (len(ms) - 1))]:.2f} tps {len(ms) / wall:.2f} n {len(ms)} codes {','.join(map(str, codes))}")
PY
OURS=$(python3 "$OUT/client.py" "$P1" "$ROUNDS" "$OUT/tiles.txt")
THEIRS=$("$VENV/bin/python" "$OUT/client.py" "$P2" "$ROUNDS" "$OUT/tiles.txt")
RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$TILER_PID/status" 2>/dev/null || echo 0)

python3 - "$OURS" "$THEIRS" "$FIRST_MS" "$RSS_KB" "$(wc -l < "$OUT/tiles.txt")" <<'PY'
import sys
def parse(s):
    f = s.split()
    return {f[i]: f[i + 1] for i in range(0, len(f), 2)}
o, t, first, rss, n = parse(sys.argv[1]), parse(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
print(f"\ntile server on the reference COG mosaics: {n} tiles, 4 connections on loopback\n")
print("| server | p50 ms | p95 ms | tiles/s | status codes |")
print("|---|---:|---:|---:|---|")
print(f"| tiler (Rust) | {o['p50']} | {o['p95']} | {o['tps']} | {o['codes']} |")
print(f"| titiler-mosaic (uvicorn) | {t['p50']} | {t['p95']} | {t['tps']} | {t['codes']} |")
ratio = float(o["tps"]) / float(t["tps"])
print(f"\nthroughput ratio: {ratio:.2f}x (target >= 3x: {'met' if ratio >= 3 else 'NOT met'})")
print(f"start to first tile: {first} ms (target <= 100 ms: {'met' if first <= 100 else 'NOT met'})")
print(f"tiler peak RSS: {rss / 1024:.0f} MiB")
PY
