#!/usr/bin/env python3
"""cogeo-mosaic 9.2.0 side of bench/db.sh: writes the mosaic with cogeo-mosaic into its own
DynamoDB table / SQLite file, then times `assets_for_tile` over the tile list the Rust
bench wrote (tiles.json), with cogeo-mosaic's cache disabled.

    db_peer.py TILES_JSON BUDGET_S URI [URI...]

One JSON object per line on stdout (same fields as the Rust bench); progress on stderr.
Each (backend, zoom) runs up to the same number of passes as ours, but stops once BUDGET_S
seconds are spent and at least 10 look-ups are timed (`capped` in the output).
"""

import contextlib
import gzip
import json
import os
import sys
import time

# Must be set before cogeo_mosaic is imported (read once, at import). Any non-empty value
# counts as true for cogeo-mosaic's settings.
os.environ["COGEO_MOSAIC_CACHE_DISABLE"] = "1"

import warnings  # noqa: E402

from cogeo_mosaic.backends import MosaicBackend  # noqa: E402
from cogeo_mosaic.cache import cache_config  # noqa: E402
from cogeo_mosaic.mosaic import MosaicJSON  # noqa: E402

OUT = sys.stdout
MIN_SAMPLES = 10


def emit(**fields):
    OUT.write(json.dumps({"impl": "cogeo-mosaic", **fields}) + "\n")
    OUT.flush()


def log(msg):
    print(f"[db] cogeo-mosaic {msg}", file=sys.stderr, flush=True)


class Requests:
    """Counts the HTTP requests a boto3 client sends (every attempt, as ours counts)."""

    def __init__(self):
        self.n = 0

    def attach(self, backend):
        client = getattr(backend, "client", None)
        if client is None or not hasattr(client, "meta"):
            return False
        low = getattr(client.meta, "client", client)  # boto3 resource -> its client
        low.meta.events.register("before-send.dynamodb", self._count)
        return True

    def _count(self, **_):
        self.n += 1  # returning None: the request is sent as usual


def load_mosaic(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return MosaicJSON.model_validate(json.load(f))


def kind(uri):
    return uri.split(":", 1)[0]


def main():
    tiles_path, budget, uris = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    assert cache_config.disable and cache_config.maxsize == 0, "cache still enabled"
    cases = json.load(open(tiles_path))
    rounds = cases["rounds"]
    mosaic = load_mosaic(cases["mosaic"])
    warnings.simplefilter("ignore")

    for uri in uris:
        name = kind(uri)
        log(f"writing {uri}")
        req = Requests()
        # the DynamoDB upload progress bar goes to stdout: keep stdout for the results
        with contextlib.redirect_stdout(sys.stderr):
            started = time.perf_counter()
            with MosaicBackend(uri, mosaic_def=mosaic) as m:
                counted = req.attach(m)
                m.write()
            elapsed = time.perf_counter() - started
        emit(op="write", backend=name, ms=elapsed * 1e3, items=len(mosaic.tiles) + (name == "dynamodb"),
             requests=req.n if counted else None)

        with MosaicBackend(uri) as backend:
            req = Requests()
            counted = req.attach(backend)
            for zoom in cases["zooms"]:
                tiles, expected = zoom["tiles"], zoom["expected"]
                backend.assets_for_tile(*tiles[0])  # warm the connection
                req.n = 0
                samples, mismatches, assets, capped = [], 0, 0, False
                start = time.perf_counter()
                for _ in range(rounds):
                    for (x, y, z), want in zip(tiles, expected):
                        if time.perf_counter() - start > budget and len(samples) >= MIN_SAMPLES:
                            capped = True
                            break
                        t0 = time.perf_counter()
                        got = backend.assets_for_tile(x, y, z)
                        samples.append(time.perf_counter() - t0)
                        assets += len(got)
                        mismatches += list(got) != want
                    if capped:
                        break
                samples.sort()
                n = len(samples)
                med = (samples[n // 2] if n % 2 else (samples[n // 2 - 1] + samples[n // 2]) / 2) * 1e3
                p90 = samples[round((n - 1) * 0.9)] * 1e3
                emit(op="lookup", backend=name, dz=zoom["dz"], z=zoom["z"], tiles=len(tiles), n=n,
                     median_ms=med, p90_ms=p90, requests=req.n / n if counted else None,
                     assets=assets / n, mismatches=mismatches, capped=capped)
                log(f"{name} z{zoom['z']} ({zoom['dz']:+d}): {n} look-ups in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
