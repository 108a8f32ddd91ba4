#!/usr/bin/env bash
# Refreshes the viewer's map library from the npm registry: maplibre-gl at the pinned
# version, its tarball checked against the registry's sha512 integrity, and the three files
# the viewer embeds (maplibre-gl.js, maplibre-gl.css, LICENSE.txt) copied into
# functions/tiler/static/vendor/maplibre-gl/. The tiler embeds them at build time
# (include_bytes!), so the viewer works offline and in Lambda; builds never touch npm.
#
#   bash scripts/vendor-maplibre.sh            # the pinned version (VERSION below)
#   MAPLIBRE_VERSION=5.x.y MAPLIBRE_INTEGRITY=sha512-... bash scripts/vendor-maplibre.sh
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="${MAPLIBRE_VERSION:-5.24.1}"
INTEGRITY="${MAPLIBRE_INTEGRITY:-sha512-HyiYBwtsbk3L1n1EPLJHWqdoyMiF80n7tEYXFZyu2m1TjvaNx6KMLiFeDdmszt1/mq2zvsR1TJuX/NMu5BonXQ==}"
DEST=functions/tiler/static/vendor/maplibre-gl

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "maplibre-gl@$VERSION" >/dev/null)
tarball="$work/maplibre-gl-$VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [[ "$got" != "$INTEGRITY" ]]; then
    echo "vendor-maplibre: integrity mismatch for maplibre-gl@$VERSION: $got" >&2
    exit 1
fi
tar -xzf "$tarball" -C "$work"
mkdir -p "$DEST"
cp "$work/package/dist/maplibre-gl.js" "$work/package/dist/maplibre-gl.css" \
    "$work/package/LICENSE.txt" "$DEST/"
printf 'maplibre-gl %s\nnpm integrity %s\n' "$VERSION" "$INTEGRITY" > "$DEST/VERSION"
(cd "$DEST" && sha256sum maplibre-gl.js maplibre-gl.css LICENSE.txt > SHA256SUMS)
echo "vendored maplibre-gl@$VERSION into $DEST"
