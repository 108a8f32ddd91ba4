#!/usr/bin/env bash
# Ingest benchmark: S3 events applied to a tile index (1,000 quadkeys) on DynamoDB (a local
# moto server) and SQLite, ours (shared/benches/ingest.rs: the ingest function's
# apply_created / apply_removed with sequencers, 4 events in flight) against cogeo-mosaic
# 9.2.0's `update` (bench/ingest_peer.py, one call per event), for assets covering Q = 1, 4,
# 16 quadkeys. Prints events/s, requests per event and the ratio.
#
#   bash bench/ingest.sh      (env: MOSAIC_BENCH_EVENTS=24 events per Q, MOSAIC_BENCH_QUADKEYS=1000,
#                              MOSAIC_BENCH_CONCURRENCY=4, PEER_BUDGET=8 s per Q)
#
# The services (infra/services.sh) run from their own directory, $BENCH_SVC_DIR
# (default ${TMPDIR:-/tmp}/mosaic-bench-services), and are stopped on exit.
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
PEER_BUDGET="${PEER_BUDGET:-8}"
T0=$SECONDS
with_services ingest

(cd "$ROOT" && MOSAIC_BENCH_DIR="$WORK" cargo bench -q -p mosaic --bench ingest) >"$WORK/results.jsonl"
COGEO_MOSAIC_CACHE_DISABLE=1 "$PEER_PY" "$ROOT/bench/ingest_peer.py" "$WORK" "$PEER_BUDGET" \
  "dynamodb:///bench-ingest-peer-$$:m" "sqlite:///$WORK/peer.db:m" >>"$WORK/results.jsonl"

python3 - "$WORK/results.jsonl" "$((SECONDS - T0))" <<'PY'
import json, sys
path, secs = sys.argv[1:]
# Only the result lines: a library may print on stdout too.
rows = [json.loads(l) for l in open(path) if l.startswith('{')]
get = lambda impl, backend, op, q: next((r for r in rows if r["impl"] == impl and r["backend"] == backend
                                         and r["op"] == op and r["q"] == q), None)
rate = lambda r: None if r is None else r["events"] / r["secs"]
fmt = lambda v, d=1: "—" if v is None else f"{v:.{d}f}"
label = {"dynamodb": "DynamoDB (moto)", "sqlite": "SQLite"}
import os
print(f"\nS3 events applied to a tile index of {os.environ.get('MOSAIC_BENCH_QUADKEYS', '1000')} quadkeys "
      f"(zoom 10); ours: {os.environ.get('MOSAIC_BENCH_CONCURRENCY', '4')} in flight; "
      "cogeo-mosaic 9.2.0: `update`, one at a time\n")
print("| backend | event | Q | ours events/s | ours requests/event | cogeo-mosaic events/s "
      "| cogeo-mosaic requests/event | ratio (ours/theirs) |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for backend in ("dynamodb", "sqlite"):
    for q in sorted({r["q"] for r in rows}):
        for op in ("created", "removed"):
            o, t = get("ours", backend, op, q), get("cogeo-mosaic", backend, op, q)
            if o is None and t is None:
                continue
            ro, rt = rate(o), rate(t)
            ratio = f"{ro / rt:.1f}x" if ro and rt else "—"
            req = lambda r: fmt(r.get("requests")) if r and r.get("requests") is not None else "—"
            print(f"| {label[backend]} | {op} | {q} | {fmt(ro)} | {req(o)} | {fmt(rt)} | {req(t)} | {ratio} |")
print(f"""
- Ours per created event: the metadata read, one conditional write of the asset record, one
  transaction per quadkey (record check + edit), one metadata update: Q + 3 requests (more
  when concurrent events conflict on the metadata version). Per removed event: 2Q + 3
  (each quadkey read, then its transaction), whatever the mosaic's size.
- cogeo-mosaic has no removal (a deletion means rewriting the mosaic): "—".
- DynamoDB is moto on loopback, serving one request at a time: absolute rates are moto's;
  the request counts carry over to AWS. moto copies the whole table (`copy.deepcopy`) for
  every item of a `TransactWriteItems` (moto/dynamodb/models/__init__.py,
  `transact_write_items`), so each of our per-quadkey transactions costs O(table) here —
  tiles and asset records — where on AWS it is one round-trip at twice the write units
  (with more in flight, moto's queue passes the SDK's 10 s attempt timeout). The events in flight also contend for the metadata item (its version is
  bumped under a condition, retried with backoff), which the requests/event show.
- run time of this script: {secs} s (cargo build excluded when up to date).""")
PY
