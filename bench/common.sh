# Sourced by the bench scripts: paths, and the Python peers in one shared venv.
#   ROOT (workspace), SET (reference data), VENV (bench/.venv), OUT (bench/out, created)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SET="$(cd "${MOSAIC_REFDATA:-$ROOT/../shared/refdata/public}" && pwd)"
VENV="$ROOT/bench/.venv"
OUT="$ROOT/bench/out"
mkdir -p "$OUT"

# ensure_peer CHECK PKG...: pip-installs PKG... into $VENV unless the Python snippet CHECK
# (imports, version asserts) already succeeds there.
ensure_peer() {
  local check=$1; shift
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  if ! "$VENV/bin/python" -c "$check" 2>/dev/null; then
    echo "installing $* into $VENV" >&2
    "$VENV/bin/pip" install -q --disable-pip-version-check "$@"
  fi
}

# with_services NAME [CARGO ARGS...]: the set-up of a bench against the local services
# (infra/services.sh), run from $BENCH_SVC_DIR (default ${TMPDIR:-/tmp}/mosaic-bench-services):
# a work directory WORK, removed and the services stopped on exit; `cargo CARGO ARGS` run
# (default: build the bench NAME); the services started and their variables sourced; PEER_PY,
# the services' Python with cogeo-mosaic 9.2.0.
with_services() {
  local name=$1; shift
  local build=("$@")
  [ ${#build[@]} -gt 0 ] || build=(bench -q -p mosaic --bench "$name" --no-run)
  export SVC_DIR="${BENCH_SVC_DIR:-${TMPDIR:-/tmp}/mosaic-bench-services}"
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/mosaic-bench-$name.XXXXXX")"
  trap 'bash "$ROOT/infra/services.sh" stop >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
  (cd "$ROOT" && cargo "${build[@]}")
  echo "[$name] starting local services in $SVC_DIR" >&2
  bash "$ROOT/infra/services.sh" start "$WORK/services.env" >"$WORK/services.log" 2>&1 ||
    { cat "$WORK/services.log" >&2; echo "error: the local services did not start" >&2; exit 1; }
  # shellcheck disable=SC1091
  source "$WORK/services.env"
  PEER_PY="$MOSAIC_TEST_PEER_PYTHON"
  "$PEER_PY" -c "import importlib.metadata as m; assert m.version('cogeo-mosaic') == '9.2.0'"
}
