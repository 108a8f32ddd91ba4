#!/usr/bin/env bash
# Mosaic-from-STAC benchmark: the same search (a local stac-fastapi-pgstac holding the
# reference footprints as items) turned into a mosaic by `mosaic create-from-stac` (release
# build) and by cogeo-mosaic 9.2.0 (its STACBackend cannot page this API, see peer(): the
# same paging in Python, then MosaicJSON.from_features), in one run. Checks both give the
# same tiles, prints wall time and the ratio.
#
#   bash bench/stac.sh [FOOTPRINTS] [MINZOOM MAXZOOM]
#   (default: $MOSAIC_REFDATA/footprints/fp_10k.geojson 7 12; env: MOSAIC_BENCH_LIMIT=500
#    items per page, MOSAIC_BENCH_ROUNDS=3)
#
# The services (infra/services.sh) run from $BENCH_SVC_DIR (default
# ${TMPDIR:-/tmp}/mosaic-bench-services) and are stopped on exit.
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
SOURCE="${1:-$SET/footprints/fp_10k.geojson}"
MINZOOM="${2:-7}"
MAXZOOM="${3:-12}"
LIMIT="${MOSAIC_BENCH_LIMIT:-500}"
ROUNDS="${MOSAIC_BENCH_ROUNDS:-3}"
[ -f "$SOURCE" ] || { echo "error: no footprints file $SOURCE" >&2; exit 1; }

with_services stac build -q --release -p mosaic --bin mosaic

# The footprints as items of a fresh collection, in file order (datetime increasing).
COLLECTION="bench-$$"
python3 - "$SOURCE" "$STAC_API_URL" "$COLLECTION" <<'PY'
import gzip, json, sys, urllib.request
source, api, cid = sys.argv[1:]
opener = gzip.open if source.endswith(".gz") else open
features = json.load(opener(source, "rt"))["features"]
def post(path, body):
    req = urllib.request.Request(api + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=600).read()
post("/collections", {"type": "Collection", "stac_version": "1.0.0", "id": cid,
     "description": "bench", "license": "proprietary", "links": [],
     "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                "temporal": {"interval": [["2000-01-01T00:00:00Z", None]]}}})
items = []
for i, f in enumerate(features):
    ring = f["geometry"]["coordinates"][0]
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    items.append({"type": "Feature", "stac_version": "1.0.0", "id": f"{i:06d}",
                  "collection": cid, "geometry": f["geometry"],
                  "bbox": [min(xs), min(ys), max(xs), max(ys)],
                  "properties": {"datetime": "2024-01-%02dT%02d:%02d:%02dZ" % (
                      1 + i // 86400, i // 3600 % 24, i // 60 % 60, i % 60)},
                  "assets": {"data": {"href": f["properties"]["path"]}}, "links": []})
for start in range(0, len(items), 2000):
    post(f"/collections/{cid}/items", {"type": "FeatureCollection",
                                       "features": items[start:start + 2000]})
print(f"[stac] loaded {len(items)} items into {cid}", file=sys.stderr)
PY
QUERY="{\"collections\": [\"$COLLECTION\"], \"sortby\": [{\"field\": \"properties.datetime\", \"direction\": \"asc\"}], \"limit\": $LIMIT}"

ours() {
  "$ROOT/target/release/mosaic" create-from-stac "$STAC_API_URL/search" --query "$QUERY" \
    --minzoom "$MINZOOM" --maxzoom "$MAXZOOM" --asset data --quiet -o "$WORK/ours.json"
}
peer() {
  # cogeo-mosaic 9.2.0's STACBackend raises AttributeError on an ItemCollection without a
  # `context`/`meta` object (cogeo-mosaic#240), which stac-fastapi-pgstac 7 no longer sends:
  # the peer pages by `next` links itself (with httpx2, cogeo-mosaic's own client) and builds
  # with MosaicJSON.from_features, the call STACBackend makes.
  COGEO_MOSAIC_CACHE_DISABLE=1 "$PEER_PY" - "$STAC_API_URL/search" "$QUERY" "$MINZOOM" "$MAXZOOM" "$WORK/peer.json" <<'PY'
import json, sys
import httpx2 as httpx  # the HTTP client cogeo-mosaic 9.2.0 itself uses
from cogeo_mosaic.mosaic import MosaicJSON
url, query, minzoom, maxzoom, out = sys.argv[1:]
body, features = json.loads(query), []
with httpx.Client(timeout=600) as client:
    while True:
        page = client.post(url, json=body, headers={"Accept": "application/geo+json"}).json()
        if not page.get("features"):
            break
        features.extend(page["features"])
        nxt = next((l for l in page.get("links", []) if l.get("rel") == "next"), None)
        if nxt is None:
            break
        url, body = nxt["href"], nxt.get("body", {})
mosaic = MosaicJSON.from_features(features, int(minzoom), int(maxzoom),
                                  accessor=lambda item: item["assets"]["data"]["href"])
json.dump(mosaic.model_dump(exclude_none=True), open(out, "w"))
PY
}
timed() { # command -> seconds (best of $ROUNDS)
  python3 - "$ROUNDS" "$@" <<'PY'
import subprocess, sys, time
rounds, cmd = int(sys.argv[1]), sys.argv[2:]
best = min(
    (lambda t0: (subprocess.run(cmd, check=True), time.perf_counter() - t0)[1])(time.perf_counter())
    for _ in range(rounds))
print(f"{best:.3f}")
PY
}
export -f ours peer
export ROOT STAC_API_URL QUERY MINZOOM MAXZOOM WORK PEER_PY
T_OURS=$(timed bash -c ours)
T_PEER=$(timed bash -c peer)

python3 - "$WORK/ours.json" "$WORK/peer.json" "$T_OURS" "$T_PEER" "$(basename "$SOURCE")" "$LIMIT" "$MINZOOM" "$MAXZOOM" <<'PY'
import json, sys
ours_p, peer_p, t_ours, t_peer, name, limit, zmin, zmax = sys.argv[1:]
ours, peer = json.load(open(ours_p)), json.load(open(peer_p))
same = ours["tiles"] == peer["tiles"] and list(ours["tiles"]) == list(peer["tiles"])
items = len({a for v in ours["tiles"].values() for a in v})
t_ours, t_peer = float(t_ours), float(t_peer)
print(f"\nmosaic from a STAC search: {name} as items, zooms {zmin}-{zmax}, {limit} items a page "
      f"(stac-fastapi-pgstac on loopback), best of rounds")
print("| implementation | wall time | quadkeys | tiles identical |")
print("|---|---|---|---|")
print(f"| mosaic create-from-stac (release) | {t_ours:.2f} s | {len(ours['tiles'])} | {'yes' if same else 'NO'} |")
print(f"| cogeo-mosaic 9.2.0 (httpx2 paging + from_features) | {t_peer:.2f} s | {len(peer['tiles'])} | |")
print(f"| ratio (cogeo-mosaic / ours) | {t_peer / t_ours:.1f}x | | |")
print(f"\n{items} distinct assets placed. cogeo-mosaic's own STACBackend fails on this API "
      "(AttributeError: no `context`, cogeo-mosaic#240).")
sys.exit(0 if same else 1)
PY
