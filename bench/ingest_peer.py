#!/usr/bin/env python3
"""cogeo-mosaic 9.2.0 side of bench/ingest.sh: the same events as `update` calls.

cogeo-mosaic has no event ingest; a cogeo-mosaic user applies a new COG with
`MosaicBackend(uri).update([feature])` (one call per event, sequentially: concurrent updates
of one mosaic lose writes there) and has no way to remove one but rewriting the mosaic. This
writes the bench's base mosaic with cogeo-mosaic, then times `update` for the events of each
Q (at most BUDGET_S seconds per Q, at least 5 events).

    ingest_peer.py DIR BUDGET_S URI [URI...]

One JSON object per line on stdout (same fields as shared/benches/ingest.rs).
"""

import json
import sys
import time
import warnings

from db_peer import Requests, kind  # same directory: the request counter of bench/db.sh

from cogeo_mosaic.backends import MosaicBackend
from cogeo_mosaic.mosaic import MosaicJSON

MIN_EVENTS = 5


def feature(event):
    w, s, e, n = event["bbox"]
    ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"path": event["asset"]}}


def main():
    directory, budget, uris = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    base = MosaicJSON.model_validate(json.load(open(f"{directory}/base.json")))
    groups = json.load(open(f"{directory}/events.json"))
    warnings.simplefilter("ignore")
    for uri in uris:
        for group in groups:
            with MosaicBackend(uri, mosaic_def=base) as m:
                m.write(overwrite=True)
            done, requests, started = 0, 0, time.perf_counter()
            for event in group["events"]:
                with MosaicBackend(uri) as m:
                    counter = Requests()
                    counter.attach(m)
                    m.update([feature(event)], add_first=True, quiet=True)
                    requests += counter.n
                done += 1
                if done >= MIN_EVENTS and time.perf_counter() - started > budget:
                    break
            secs = time.perf_counter() - started
            print(f"[ingest] cogeo-mosaic {kind(uri)} update Q={group['q']}: "
                  f"{done / secs:.1f} events/s", file=sys.stderr, flush=True)
            sys.stdout.write(json.dumps({
                "impl": "cogeo-mosaic", "backend": kind(uri), "op": "created", "q": group["q"],
                "events": done, "secs": secs,
                "requests": requests / done if kind(uri) == "dynamodb" else None}) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
