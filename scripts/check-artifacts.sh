#!/usr/bin/env bash
# Checks the Lambda artifacts (scripts/package.sh) against what provided.al2023 offers:
#  - shared libraries: only glibc's own and libgcc_s (no libgdal, libproj, libcurl, libssl,
#    libstdc++ ...);
#  - no glibc symbol version newer than 2.34 (Amazon Linux 2023), no libstdc++ versions;
#  - GDAL inside the tiler and ingest, none inside stac-mosaic;
# and prints each artifact's size. Exits 1 on any failure.
#   bash scripts/check-artifacts.sh [DIR]     # DIR defaults to target/lambda
set -euo pipefail
dir=${1:-target/lambda}
allowed='^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1|libgcc_s\.so\.1)$'
max_glibc=2.34
# A string of libtiff's inside GDAL: present exactly when GDAL is linked in.
gdal_marker='TIFFReadDirectory'
fail=0
bad() { echo "check-artifacts: $*" >&2; fail=1; }

printf '%-12s %12s %12s  %-8s %s\n' function bootstrap zip glibc libraries
for function in tiler ingest stac-mosaic; do
  bin="$dir/$function/bootstrap"
  zip="$dir/$function/bootstrap.zip"
  [ -f "$bin" ] || { bad "$bin missing"; continue; }
  [ -f "$zip" ] || bad "$zip missing"
  needed=$(readelf -d "$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p')
  for lib in $needed; do
    [[ $lib =~ $allowed ]] || bad "$function needs $lib"
  done
  versions=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV)
  newest=$(tail -n1 <<<"$versions")
  if [ "$(printf '%s\n%s\n' "$newest" "$max_glibc" | sort -V | tail -n1)" != "$max_glibc" ]; then
    bad "$function uses glibc $newest symbols: $(objdump -T "$bin" | grep -E "GLIBC_($(sed 's/\./\\./g' <<<"$newest"))[^0-9.]" | awk '{print $NF}' | tr '\n' ' ')"
  fi
  if objdump -T "$bin" | grep -qE 'GLIBCXX_|CXXABI_'; then
    bad "$function links the C++ runtime dynamically"
  fi
  has_gdal=false
  grep -qa "$gdal_marker" "$bin" && has_gdal=true
  case "$function" in
    stac-mosaic) $has_gdal && bad "stac-mosaic contains GDAL" ;;
    *) $has_gdal || bad "$function does not contain GDAL" ;;
  esac
  mib() { awk -v b="$(stat -c %s "$1" 2>/dev/null || echo 0)" 'BEGIN { printf "%.1f", b / 1048576 }'; }
  printf '%-12s %10sMB %10sMB  %-8s %s\n' "$function" "$(mib "$bin")" "$(mib "$zip")" \
    "$newest" "$(echo $needed)"
done
exit $fail
