#!/usr/bin/env bash
# Local stand-ins for the cloud services the tests talk to, on free loopback ports:
#   S3 + DynamoDB (moto server, PyPI; conditional writes made atomic by moto_serial.py), Azure Blob (Azurite, npm), GCS (gcp-storage-emulator + shim,
#   PyPI), plain HTTP with Range support (RangeHTTPServer, PyPI);
#   the Lambda runtime API (cargo-lambda, PyPI) runs the function binaries as Lambda would;
#   a STAC API (stac-fastapi-pgstac + pypgstac, PyPI, on Debian's PostgreSQL 15 + PostGIS 3).
#
#   bash infra/services.sh start ENV_FILE   # install what is missing, start, wait, write exports
#   bash infra/services.sh stop             # stop exactly the processes started (by PID)
#
# Buckets/containers created: `mosaic-test` everywhere. State lives in $SVC_DIR.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SVC_DIR=${SVC_DIR:-${TMPDIR:-/tmp}/mosaic-services}
PIP_PKGS=('moto[server]==5.2.5' 'gcp-storage-emulator==2026.7.19' 'rangehttpserver==1.4.0')
AZURITE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
log() { echo "[services] $*" >&2; }

install() {
  mkdir -p "$SVC_DIR"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    log "node/npm missing"; return 1
  fi
  if [ ! -x "$SVC_DIR/venv/bin/moto_server" ] || [ ! -x "$SVC_DIR/venv/bin/gcp-storage-emulator" ]; then
    log "pip install ${PIP_PKGS[*]}"
    python3 -m venv "$SVC_DIR/venv" && "$SVC_DIR/venv/bin/pip" install -q --disable-pip-version-check "${PIP_PKGS[@]}" || return 1
  fi
  # interoperability peer for the tests (tests/peer/cogeo_peer.py): the reference implementation
  if ! "$SVC_DIR/peer-venv/bin/python" -c 'import cogeo_mosaic, boto3' >/dev/null 2>&1; then
    local PEER_PKGS=('cogeo-mosaic==9.2.0' boto3)
    log "pip install ${PEER_PKGS[*]} (peer venv)"
    python3 -m venv "$SVC_DIR/peer-venv" || return 1
    "$SVC_DIR/peer-venv/bin/pip" install -q --disable-pip-version-check "${PEER_PKGS[@]}" ||
      "$SVC_DIR/peer-venv/bin/pip" install -q --disable-pip-version-check "${PEER_PKGS[@]}" || return 1
  fi
  # STAC API: stac-fastapi-pgstac on pgstac (PostgreSQL + PostGIS from Debian, install-deps.sh)
  if [ ! -x "$SVC_DIR/stac-venv/bin/pypgstac" ] || [ ! -x "$SVC_DIR/stac-venv/bin/uvicorn" ]; then
    local STAC_PKGS=('stac-fastapi-pgstac[server]==7.2.0' 'pypgstac[psycopg]==0.10.0')
    log "pip install ${STAC_PKGS[*]} (stac venv)"
    python3 -m venv "$SVC_DIR/stac-venv" || return 1
    "$SVC_DIR/stac-venv/bin/pip" install -q --disable-pip-version-check "${STAC_PKGS[@]}" ||
      "$SVC_DIR/stac-venv/bin/pip" install -q --disable-pip-version-check "${STAC_PKGS[@]}" || return 1
  fi
  # Lambda runtime API emulator (cargo-lambda; without its zig dependency, only `watch` is used)
  if [ ! -x "$SVC_DIR/lambda-venv/bin/cargo-lambda" ]; then
    log "pip install cargo-lambda (lambda venv)"
    python3 -m venv "$SVC_DIR/lambda-venv" &&
      "$SVC_DIR/lambda-venv/bin/pip" install -q --disable-pip-version-check --no-deps 'cargo-lambda==1.9.2' || return 1
  fi
  if [ ! -f "$SVC_DIR/lambda-apis/Cargo.toml" ]; then
    # `cargo lambda watch` reads a manifest even with --only-lambda-apis: give it an empty
    # package, so it never touches (or locks) the workspace the tests run from.
    mkdir -p "$SVC_DIR/lambda-apis/src" &&
      printf '[package]\nname = "lambda-apis"\nversion = "0.0.0"\nedition = "2021"\n' > "$SVC_DIR/lambda-apis/Cargo.toml" &&
      echo 'fn main() {}' > "$SVC_DIR/lambda-apis/src/main.rs" || return 1
  fi
  if [ ! -x "$SVC_DIR/node/node_modules/.bin/azurite-blob" ]; then
    log "npm install azurite"
    mkdir -p "$SVC_DIR/node"
    (cd "$SVC_DIR/node" && { [ -f package.json ] || echo '{"private":true}' > package.json; } &&
      npm install --no-audit --no-fund --silent azurite@3.35.0) || return 1
  fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

bg() { # name, command... : detached, own session; the PID is the service's own
  local name=$1; shift
  rm -f "$SVC_DIR/$name.pid"
  setsid nohup bash -c 'echo $$ > "$0"; exec "$@"' "$SVC_DIR/$name.pid" "$@" > "$SVC_DIR/$name.log" 2>&1 < /dev/null &
  for _ in $(seq 50); do [ -s "$SVC_DIR/$name.pid" ] && return 0; sleep 0.1; done
}

wait_for() { # name, seconds, probe...
  local name=$1 t=$2; shift 2
  for ((i = 0; i < t * 4; i++)); do
    if "$@" >/dev/null 2>&1; then log "$name ready"; return 0; fi
    sleep 0.25
  done
  log "$name NOT ready after ${t}s:"; tail -20 "$SVC_DIR/$name.log" >&2; return 1
}

PG_BIN=/usr/lib/postgresql/15/bin
as_postgres() { runuser -u postgres -- "$@"; }

# A throwaway PostgreSQL cluster (trust auth, loopback, socket in its own directory) with
# the pgstac schema, and stac-fastapi-pgstac on it with the transactions extension (the
# tests load their items through the API).
start_stac() {
  local pg_port=$1 stac_port=$2 pg="$SVC_DIR/pg"
  rm -rf "$pg" && mkdir -p "$pg" && chown postgres: "$pg" && chmod 700 "$pg" || return 1
  chmod o+x "$SVC_DIR"
  as_postgres test -x "$pg" || { log "user postgres cannot reach $pg (a parent of SVC_DIR is closed to it)"; return 1; }
  as_postgres "$PG_BIN/initdb" -D "$pg/data" -U postgres --auth=trust -E UTF8 >"$SVC_DIR/pg-init.log" 2>&1 || return 1
  as_postgres "$PG_BIN/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w -t 60 \
    -o "-p $pg_port -k $pg -c listen_addresses=127.0.0.1" start >/dev/null || return 1
  export PGHOST=127.0.0.1 PGPORT=$pg_port PGUSER=postgres PGPASSWORD=unused
  PGDATABASE=postgres psql -qc "create database pgstac" || return 1
  PGDATABASE=pgstac "$SVC_DIR/stac-venv/bin/pypgstac" migrate >/dev/null || return 1
  # the API sets its own search_path; this one is for direct sessions (psql, pypgstac load)
  PGDATABASE=postgres psql -qc "alter database pgstac set search_path to pgstac, public" || return 1
  bg stac env PGDATABASE=pgstac ENABLE_TRANSACTIONS_EXTENSIONS=TRUE \
    "$SVC_DIR/stac-venv/bin/uvicorn" stac_fastapi.pgstac.app:create_app --factory \
    --host 127.0.0.1 --port "$stac_port"
}

start() {
  local env_file=$1 rc=0
  install || { log "install failed"; return 1; }
  stop 2>/dev/null
  mkdir -p "$SVC_DIR/azurite" "$SVC_DIR/www"
  local V="$SVC_DIR/venv/bin" MOTO GCS AZ WWW LAMBDA PG STAC
  MOTO=$(free_port); GCS=$(free_port); AZ=$(free_port); WWW=$(free_port); LAMBDA=$(free_port)
  PG=$(free_port); STAC=$(free_port)
  bg moto "$V/python" "$HERE/moto_serial.py" 127.0.0.1 "$MOTO"   # one request at a time: see the file
  bg gcs "$V/python" "$HERE/gcs_emulator_shim.py" start --host 127.0.0.1 --port "$GCS" --in-memory --default-bucket mosaic-test
  bg azurite "$SVC_DIR/node/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$AZ" \
    --location "$SVC_DIR/azurite" --silent --skipApiVersionCheck --loose --disableTelemetry
  (cd "$SVC_DIR/www" && bg www "$V/python" -m RangeHTTPServer "$WWW" --bind 127.0.0.1)
  (cd "$SVC_DIR/lambda-apis" && bg lambda "$SVC_DIR/lambda-venv/bin/cargo-lambda" lambda watch \
    --only-lambda-apis --invoke-address 127.0.0.1 --invoke-port "$LAMBDA")
  (start_stac "$PG" "$STAC") || { log "PostgreSQL/pgstac did not start:"; tail -20 "$SVC_DIR/pg/server.log" "$SVC_DIR/pg-init.log" >&2 2>/dev/null; rc=1; }
  wait_for moto 60 curl -sf "http://127.0.0.1:$MOTO/moto-api/" || rc=1
  wait_for gcs 60 curl -sf "http://127.0.0.1:$GCS/storage/v1/b/mosaic-test" || rc=1
  wait_for azurite 60 bash -c "curl -s -o /dev/null -w '%{http_code}' 'http://127.0.0.1:$AZ/devstoreaccount1?comp=list' | grep -q 403" || rc=1
  wait_for www 30 curl -sf -o /dev/null "http://127.0.0.1:$WWW/" || rc=1
  wait_for stac 90 curl -sf "http://127.0.0.1:$STAC/_mgmt/ping" || rc=1
  # its routes hold a GET open (like Lambda's `invocation/next`): probe the port only
  wait_for lambda 30 bash -c "exec 3<>/dev/tcp/127.0.0.1/$LAMBDA" || rc=1
  "$V/python" "$HERE/azurite_mkcontainer.py" mosaic-test "http://127.0.0.1:$AZ" >/dev/null || rc=1
  curl -sf -X PUT "http://127.0.0.1:$MOTO/mosaic-test" >/dev/null || rc=1   # moto accepts unsigned bucket creation
  cat > "$env_file" <<ENV
# written by infra/services.sh: endpoints of the local services (standard variable names)
export SVC_DIR=$SVC_DIR
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO AWS_ENDPOINT_URL_S3=http://127.0.0.1:$MOTO AWS_ALLOW_HTTP=true
export AWS_S3_ENDPOINT=127.0.0.1:$MOTO AWS_HTTPS=NO AWS_VIRTUAL_HOSTING=FALSE
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$MOTO
export MOSAIC_TEST_PEER_PYTHON=$SVC_DIR/peer-venv/bin/python
export AZURE_STORAGE_USE_EMULATOR=true AZURITE_BLOB_STORAGE_URL=http://127.0.0.1:$AZ
export AZURE_STORAGE_CONNECTION_STRING='DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$AZURITE_KEY;BlobEndpoint=http://127.0.0.1:$AZ/devstoreaccount1;'
export GOOGLE_SERVICE_ACCOUNT_KEY='{"gcs_base_url":"http://127.0.0.1:$GCS","disable_oauth":true,"client_email":"","private_key":"","private_key_id":""}'
export CPL_GS_ENDPOINT=http://127.0.0.1:$GCS/ GS_NO_SIGN_REQUEST=YES
export MOSAIC_TEST_HTTP_URL=http://127.0.0.1:$WWW MOSAIC_TEST_HTTP_DIR=$SVC_DIR/www
export MOSAIC_TEST_LAMBDA_RUNTIME_API=http://127.0.0.1:$LAMBDA/.rt MOSAIC_TEST_LAMBDA_INVOKE=http://127.0.0.1:$LAMBDA/2015-03-31/functions/_/invocations
export STAC_API_URL=http://127.0.0.1:$STAC
export MOSAIC_TEST_SERVICES=1
ENV
  return $rc
}

# Running and not a zombie: exited services are reparented to PID 1, which on these
# machines reaps them only every ~2 s (kill -0 succeeds on a zombie).
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }

stop() {
  local n pid
  for n in stac lambda www azurite gcs moto; do
    [ -f "$SVC_DIR/$n.pid" ] || continue
    pid=$(cat "$SVC_DIR/$n.pid")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
      log "stopped $n ($pid)"
    fi
    rm -f "$SVC_DIR/$n.pid"
  done
  # after its client (stac); pg_ctl stops the postmaster named in this cluster's postmaster.pid
  if [ -f "$SVC_DIR/pg/data/postmaster.pid" ]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$SVC_DIR/pg/data" -m fast -w stop >/dev/null 2>&1 && log "stopped postgres"
  fi
}

case "${1:-}" in
  start) start "${2:?env file}" ;;
  stop) stop ;;
  *) echo "usage: $0 start ENV_FILE | stop" >&2; exit 2 ;;
esac
