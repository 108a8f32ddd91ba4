#!/usr/bin/env python3
"""Interoperability peer: the reference cogeo-mosaic 9.2.0, driven from the Rust tests.

Runs inside the venv that `infra/services.sh` creates (`$MOSAIC_TEST_PEER_PYTHON`).
Every subcommand prints exactly one JSON document on stdout and exits 0; on failure
it prints `ExceptionClass: message` on stderr and exits 1 (2 for usage errors).

    write URI MOSAIC_FILE [--overwrite]     -> {"ok": true}
    lookups URI CASES_FILE [CASES_FILE...] [--max-fetches N]
                                            -> {"<basename>": [assets | {"error": "Cls"}, ...], ...}
    list-sqlite DB_PATH                     -> ["name", ...]
    info URI                                -> {"quadkeys": [...sorted], "bounds": [...], ...}

URIs: `dynamodb:///table:name`, `sqlite:////abs/path.db:name` (any cogeo-mosaic URI works).
Anything the library prints on stdout (e.g. the DynamoDB upload progress bar) is sent
to stderr so stdout stays clean JSON.
"""

import argparse
import gzip
import json
import os
import sys
import warnings


def _load_json(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def _jsonable(value):
    """JSON default for values coming back from the backends (Decimal, tuples...)."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    return str(value)


def cmd_write(args):
    from cogeo_mosaic.backends import MosaicBackend
    from cogeo_mosaic.mosaic import MosaicJSON

    mosaic = MosaicJSON.model_validate(_load_json(args.mosaic_file))
    with MosaicBackend(args.uri, mosaic_def=mosaic) as m:
        m.write(overwrite=args.overwrite)
    return {"ok": True}


def _call_case(backend, function, inp):
    from rasterio.crs import CRS

    kwargs = dict(inp)
    if kwargs.get("coord_crs") is not None:
        kwargs["coord_crs"] = CRS.from_user_input(kwargs["coord_crs"])
    if function == "assets_for_tile":
        x, y, z = kwargs.pop("x"), kwargs.pop("y"), kwargs.pop("z")
        return backend.assets_for_tile(x, y, z, **kwargs)
    if function == "assets_for_point":
        lng, lat = kwargs.pop("lng"), kwargs.pop("lat")
        return backend.assets_for_point(lng, lat, **kwargs)
    if function == "assets_for_bbox":
        bbox = [kwargs.pop(k) for k in ("xmin", "ymin", "xmax", "ymax")]
        return backend.assets_for_bbox(*bbox, **kwargs)
    raise ValueError(f"unknown function {function!r}")


class _TooManyFetches(Exception):
    """A case needs more quadkey reads than --max-fetches allows."""


def _limit_fetches(backend, limit):
    """Make `backend.find_quadkeys` (called by every uncached `get_assets`, before it
    reads anything) count the quadkeys a case reads and raise past `limit`.
    Returns the reset function to call before each case."""
    count = [0]
    find_quadkeys = backend.find_quadkeys

    def counting(tile, quadkey_zoom):
        count[0] += 4 ** (quadkey_zoom - tile.z) if tile.z < quadkey_zoom else 1
        if count[0] > limit:
            raise _TooManyFetches()
        return find_quadkeys(tile, quadkey_zoom)

    backend.find_quadkeys = counting

    def reset():
        count[0] = 0

    return reset


def cmd_lookups(args):
    import morecantile
    from cogeo_mosaic.backends import MosaicBackend

    out = {}
    for path in args.cases_files:
        doc = _load_json(path)
        function = doc["function"]
        tms = morecantile.tms.get(doc.get("tms") or "WebMercatorQuad")
        results = []
        # The case file's `mosaic` key is ignored: the URI is where the data is.
        with MosaicBackend(args.uri, tms=tms) as backend:
            reset = _limit_fetches(backend, args.max_fetches) if args.max_fetches else None
            for case in doc["cases"]:
                if reset:
                    reset()
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        results.append(list(_call_case(backend, function, case["input"])))
                except _TooManyFetches:
                    results.append({"skipped": "max-fetches"})
                except Exception as e:  # the reference raised: report the class name
                    results.append({"error": type(e).__name__})
        out[os.path.basename(path)] = results
    return out


def cmd_list_sqlite(args):
    from cogeo_mosaic.backends.sqlite import SQLiteBackend

    return list(SQLiteBackend.list_mosaics_in_db(args.db_path))


def _dynamodb_all_quadkeys(backend):
    """Every quadkey of a DynamoDB mosaic (`_quadkeys` reads one Query page only)."""
    from boto3.dynamodb.conditions import Key

    kwargs = {
        "KeyConditionExpression": Key("mosaicId").eq(backend.mosaic_name),
        "ProjectionExpression": "quadkey",
    }
    quadkeys = []
    while True:
        resp = backend.table.query(**kwargs)
        quadkeys += [i["quadkey"] for i in resp["Items"] if i["quadkey"] != backend._metadata_quadkey]
        if not resp.get("LastEvaluatedKey"):
            return quadkeys
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def cmd_info(args):
    from cogeo_mosaic.backends import MosaicBackend
    from cogeo_mosaic.backends.dynamodb import DynamoDBBackend

    with MosaicBackend(args.uri) as m:
        md = m.mosaic_def
        quadkeys = list(m._quadkeys)
        result = {
            "quadkeys": sorted(quadkeys),
            "bounds": [float(v) for v in md.bounds],
            "minzoom": md.minzoom,
            "maxzoom": md.maxzoom,
            "quadkey_zoom": md.quadkey_zoom,
            "version": md.version,
            "name": md.name,
            "backend": type(m).__name__,
            "mosaicid": m.mosaicid,
            # everything but `tiles`, as the backend read it back
            "metadata": md.model_dump(mode="json", exclude={"tiles"}, exclude_none=True),
        }
        if isinstance(m, DynamoDBBackend):
            # the reference `_quadkeys` is a single (unpaginated) Query: say if it was cut
            all_qk = _dynamodb_all_quadkeys(m)
            result["quadkeys_first_page_only"] = len(all_qk) != len(quadkeys)
            result["quadkeys"] = sorted(all_qk)
    return result


COMMANDS = {}


def cmd_batch(args):
    """Run many commands in one process (the imports cost about a second each time).
    The spec is a JSON list of objects: {"command": "write"|"lookups"|"info"|"list-sqlite",
    plus that command's arguments by their dest names}. Each answer is the command's
    result, or {"failed": "ExceptionClass: message"}."""
    import types

    spec = _load_json(args.spec) if args.spec != "-" else json.load(sys.__stdin__)
    defaults = {"overwrite": False, "max_fetches": 0}
    answers = []
    for entry in spec:
        entry = dict(entry)
        func = COMMANDS[entry.pop("command")]
        try:
            answers.append(func(types.SimpleNamespace(**{**defaults, **entry})))
        except Exception as e:
            answers.append({"failed": f"{type(e).__name__}: {e}"})
    return answers


def main(argv=None):
    parser = argparse.ArgumentParser(prog="cogeo_peer.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("write", help="write a MosaicJSON document (.json or .json.gz) to URI")
    p.add_argument("uri")
    p.add_argument("mosaic_file")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_write)

    p = sub.add_parser("lookups", help="run look-up case files against the mosaic at URI")
    p.add_argument("uri")
    p.add_argument("cases_files", nargs="+", metavar="CASES_FILE")
    p.add_argument(
        "--max-fetches",
        type=int,
        default=0,
        metavar="N",
        help="skip (result {\"skipped\": \"max-fetches\"}) a case once it needs more than N "
        "quadkey reads: a z=0 tile reads 4**quadkey_zoom keys, one GetItem each on DynamoDB "
        "(default 0: no limit)",
    )
    p.set_defaults(func=cmd_lookups)

    p = sub.add_parser("list-sqlite", help="SQLiteBackend.list_mosaics_in_db(DB_PATH)")
    p.add_argument("db_path")
    p.set_defaults(func=cmd_list_sqlite)

    p = sub.add_parser("info", help="quadkeys and metadata of the mosaic at URI")
    p.add_argument("uri")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("batch", help="run a JSON list of commands (file or - for stdin)")
    p.add_argument("spec")
    p.set_defaults(func=cmd_batch)

    COMMANDS.update(
        {"write": cmd_write, "lookups": cmd_lookups, "info": cmd_info, "list-sqlite": cmd_list_sqlite}
    )
    args = parser.parse_args(argv)

    # Keep stdout for our JSON only: fd 1 (Python and C level, click's progress bar
    # included) goes to stderr while the library runs.
    real_stdout = os.fdopen(os.dup(1), "w", encoding="utf-8")
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        result = args.func(args)
    except Exception as e:
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 1
    json.dump(result, real_stdout, default=_jsonable)
    real_stdout.write("\n")
    real_stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
