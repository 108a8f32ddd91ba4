#!/usr/bin/env bash
# Bounded load test of the tile server on loopback: our `tiler` serves the reference COG
# mosaics on a free 127.0.0.1 port; the load generator (functions/tiler/examples/load.rs)
# holds CONNECTIONS keep-alive connections for DURATION seconds over a mixed tile list (every
# reference render: 3 mosaics, 9 pixel selections, PNG/JPEG/WebP, @2x, children, empty
# tiles). VmRSS of the server is sampled every second. Prints the generator's table (status
# counts, p50/p90/p99/max) and RSS after warm-up and at the end.
#
# Fails when: any answer is a 5xx other than 503 (503 + Retry-After is admission control
# shedding load, src/shed.rs) or a request fails; RSS at the end exceeds RSS after warm-up
# by more than RSS_GROWTH_PCT percent; the server dies or panics.
#
#   bash bench/load.sh            release build, 32 connections, 60 s (10 s warm-up first)
#   bash bench/load.sh --short    debug build, 8 connections, 10 s (4 s warm-up): CI
#
# Environment: CONNECTIONS, DURATION, WARMUP (seconds), RSS_GROWTH_PCT (default 25),
# TILER_BIN + LOAD_BIN (prebuilt binaries: no build), and the
# server's own settings (MOSAIC_MAX_INFLIGHT, MOSAIC_QUEUE_TIMEOUT_MS, MOSAIC_CONCURRENCY...),
# e.g. `MOSAIC_MAX_INFLIGHT=0 bash bench/load.sh` for the server without admission control.
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"

SHORT=0
for a in "$@"; do
  case "$a" in
    --short) SHORT=1 ;;
    *) echo "usage: bash bench/load.sh [--short]" >&2; exit 64 ;;
  esac
done
if [ "$SHORT" = 1 ]; then
  PROFILE=debug; CONNECTIONS="${CONNECTIONS:-8}"; DURATION="${DURATION:-10}"; WARMUP="${WARMUP:-4}"
  BUILD=(cargo build -q -p tiler --bin tiler --example load)
else
  PROFILE=release; CONNECTIONS="${CONNECTIONS:-32}"; DURATION="${DURATION:-60}"; WARMUP="${WARMUP:-10}"
  BUILD=(cargo build -q --release -p tiler --bin tiler --example load)
fi
RSS_GROWTH_PCT="${RSS_GROWTH_PCT:-25}"
# TILER_BIN and LOAD_BIN (both set): measure these builds as they are, building nothing.
if [ -n "${TILER_BIN:-}" ] && [ -n "${LOAD_BIN:-}" ]; then
  BIN="$TILER_BIN"; LOAD="$LOAD_BIN"; PROFILE="$PROFILE, prebuilt $BIN"
else
  (cd "$ROOT" && "${BUILD[@]}")
  BIN="$ROOT/target/$PROFILE/tiler"
  LOAD="$ROOT/target/$PROFILE/examples/load"
fi

# The mixed tile list (paths on the server; mosaics relative to the reference set, where the
# server runs).
TILES="$OUT/load_tiles.txt"
python3 - "$SET" > "$TILES" <<'PY'
import json, random, sys, urllib.parse
renders = json.load(open(sys.argv[1] + "/renders/manifest.json"))["renders"]
out, seen = [], set()
def add(path):
    if path not in seen:
        seen.add(path)
        out.append(path)
fmts = ["png", "jpg", "webp"]
for i, r in enumerate(renders):
    m = urllib.parse.quote(r["mosaic"], safe="")
    if "error" in r:
        # Empty tiles (204): no asset, or assets without data there.
        add(f"/mosaicjson/tiles/WebMercatorQuad/12/2048/2048.png?url={m}")
        continue
    t = r["tile"]
    q = [("url", r["mosaic"]), ("pixel_selection", r["pixel_selection"])]
    for b in r["indexes"] or []:
        q.append(("bidx", str(b)))
    resc = (r.get("png") or {}).get("rescale")
    if resc:
        q.append(("rescale", ",".join(str(v) for v in resc["in_range"])))
    rgb = r["dtype"] == "uint8" and "rgb" in r["mosaic"]
    fmt = fmts[i % 3] if rgb else "png"
    scale = "@2x" if i % 7 == 0 else ""
    qs = urllib.parse.urlencode(q)
    add(f"/mosaicjson/tiles/WebMercatorQuad/{t['z']}/{t['x']}/{t['y']}{scale}.{fmt}?{qs}")
    if r["pixel_selection"] == "first" and not r["indexes"]:
        for j, (dx, dy) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
            z, x, y = t["z"] + 1, 2 * t["x"] + dx, 2 * t["y"] + dy
            cq = [p for p in q if p[0] != "pixel_selection"]
            add(f"/mosaicjson/tiles/WebMercatorQuad/{z}/{x}/{y}.{fmts[j % 3] if rgb else 'png'}?{urllib.parse.urlencode(cq)}")
# A fixed shuffle: requests in progress at any moment mix mosaics, zooms and formats.
random.Random(7).shuffle(out)
print("\n".join(out))
PY

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
PORT_=$(free_port)
BASE="http://127.0.0.1:$PORT_"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

LOG="$OUT/load_server.log"
(cd "$SET" && PORT=$PORT_ MOSAIC_ALLOWED_URLS="$SET" RUST_LOG="${RUST_LOG:-warn}" \
  exec "$BIN" mosaics/cog_rgb__default.json > "$LOG" 2>&1) &
SERVER=$!
PIDS+=("$SERVER")
for _ in $(seq 300); do
  curl -s -o /dev/null --noproxy '*' "$BASE/healthz" && break
  kill -0 "$SERVER" 2>/dev/null || { echo "server exited:" >&2; cat "$LOG" >&2; exit 1; }
  sleep 0.1
done
curl -sf -o /dev/null --noproxy '*' "$BASE/healthz" || { echo "server not answering on $BASE" >&2; exit 1; }

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER/status"; }
RSS_LOG="$OUT/load_rss.txt"
: > "$RSS_LOG"
(
  while kill -0 "$SERVER" 2>/dev/null; do
    echo "$(date +%s.%N) $(rss_kb 2>/dev/null || echo 0)" >> "$RSS_LOG"
    sleep 1
  done
) &
PIDS+=($!)

echo "tiler ($PROFILE) on $BASE, MOSAIC_MAX_INFLIGHT=${MOSAIC_MAX_INFLIGHT:-default} MOSAIC_QUEUE_TIMEOUT_MS=${MOSAIC_QUEUE_TIMEOUT_MS:-default}, $(wc -l < "$TILES") URLs, $(nproc) cores"
RSS_START=$(rss_kb)
set +e
"$LOAD" --base "$BASE" --urls "$TILES" --connections "$CONNECTIONS" --duration "$WARMUP" \
  --label "warm-up" > "$OUT/load_warmup.txt"
WARM_STATUS=$?
T_WARM=$(date +%s.%N)
"$LOAD" --base "$BASE" --urls "$TILES" --connections "$CONNECTIONS" --duration "$DURATION" \
  --json "$OUT/load.json" --label "tiler under load"
STATUS=$?
T_END=$(date +%s.%N)
set -e
if ! kill -0 "$SERVER" 2>/dev/null; then
  echo "FAIL: the server died; its log:" >&2; tail -20 "$LOG" >&2; exit 1
fi
RSS_END=$(rss_kb)
RSS_PEAK=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVER/status")
curl -sf -o /dev/null --noproxy '*' "$BASE/healthz" || { echo "FAIL: /healthz after the run" >&2; STATUS=1; }

if [ "$WARM_STATUS" != 0 ]; then
  echo "FAIL: the warm-up saw 5xx other than 503 or failed requests:" >&2
  cat "$OUT/load_warmup.txt" >&2
  STATUS=1
fi
if grep -q "panicked" "$LOG"; then
  echo "FAIL: the server panicked:" >&2; grep -m3 -A3 "panicked" "$LOG" >&2; STATUS=1
fi
python3 - "$RSS_LOG" "$T_WARM" "$T_END" "$RSS_START" "$RSS_END" "$RSS_PEAK" "$RSS_GROWTH_PCT" <<'PY' || STATUS=1
# RSS moves by +-20% from second to second under load (buffers of the tiles in progress,
# malloc arenas): compare the medians of the first and last windows of the measured run.
import statistics, sys
log, t_warm, t_end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
start, end, peak, pct = (int(v) for v in sys.argv[4:8])
samples = [(float(t), int(kb)) for t, kb in (l.split() for l in open(log) if len(l.split()) == 2) if int(kb) > 0]
win = max(2.0, min(10.0, (t_end - t_warm) / 3))
first = [kb for t, kb in samples if t_warm <= t <= t_warm + win]
last = [kb for t, kb in samples if t_end - win <= t <= t_end]
run = [kb for t, kb in samples if t_warm <= t <= t_end]
if not first or not last:
    sys.exit("FAIL: no RSS samples during the run")
warm, fin = statistics.median(first), statistics.median(last)
mib = lambda kb: f"{kb / 1024:.0f} MiB"
print(f"\nRSS (VmRSS, sampled every second): idle {mib(start)}; after warm-up {mib(warm)} (median of the"
      f" first {win:.0f} s of the run); end {mib(fin)} (median of the last {win:.0f} s), {mib(end)} at the"
      f" last second; during the run min {mib(min(run))}, max {mib(max(run))}; peak VmHWM {mib(peak)}")
growth = (fin - warm) / warm * 100
print(f"RSS growth after warm-up -> end: {growth:+.1f}% (bound +{pct}%)")
if growth > pct:
    sys.exit(f"FAIL: RSS grew {growth:+.1f}% after warm-up (bound +{pct}%)")
PY
if [ "$STATUS" != 0 ]; then
  echo "bench/load.sh: FAILED" >&2
else
  echo "bench/load.sh: ok (no 5xx other than 503, RSS within +$RSS_GROWTH_PCT%)"
fi
exit "$STATUS"
