#!/usr/bin/env bash
# Installs the deployment tools into a venv of their own (target/tools/venv, or $MOSAIC_TOOLS_VENV):
# cargo-lambda (scripts/package.sh), aws-sam-cli and cfn-lint (the template's lint in
# scripts/test.sh). Versions pinned; PyPI only. Prints nothing when already installed.
#   bash infra/tools.sh          # then: target/tools/venv/bin/{cargo-lambda,sam,cfn-lint}
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${MOSAIC_TOOLS_VENV:-target/tools/venv}
pins=(aws-sam-cli==1.170.0 cfn-lint==1.58.0)
# cargo-lambda without its ziglang dependency (411 MB): the artifacts are linked by the
# host toolchain (`compiler = cargo` in the functions' [package.metadata.lambda.build]).
lambda_pin=cargo-lambda==1.9.2
stamp="$venv/.installed"
want="${pins[*]} $lambda_pin"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
echo "[tools] installing $want into $venv" >&2
python3 -m venv "$venv"
pip=("$venv/bin/pip" install -q --disable-pip-version-check)
for attempt in 1 2 3; do
  if "${pip[@]}" "${pins[@]}" && "${pip[@]}" --no-deps "$lambda_pin"; then
    echo "$want" > "$stamp"
    exit 0
  fi
  echo "[tools] pip install failed (attempt $attempt), retrying" >&2
  sleep 2
done
echo "[tools] could not install $want" >&2
exit 1
