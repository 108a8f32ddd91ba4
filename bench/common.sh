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
