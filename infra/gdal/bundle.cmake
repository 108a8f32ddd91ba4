# Read by every CMake build cargo runs in this workspace (CMAKE_TOOLCHAIN_FILE in
# .cargo/config.toml). Only the statically linked GDAL of the Lambda artifacts (feature
# `bundled-gdal`: the crates gdal-src and proj-sys) is built with CMake; the development
# build links the system GDAL and runs no CMake at all.
#
# gdal-src turns every external library off (GDAL_USE_EXTERNAL_LIBS=OFF) and exposes no
# option for codecs, but ZSTD and WebP are what many COG producers write. This file turns
# both back on, linked from Debian's static archives (libzstd-dev, libwebp-dev; installed by
# infra/install-deps.sh --bundle). The final link adds the archives after GDAL (build.rs of
# the functions), since gdal-src does not name them. docs/deploy.md, "How GDAL is built".

# Full paths of the static archives, from the C compiler's own search path.
function(_mosaic_static_archive var name)
  execute_process(COMMAND cc -print-file-name=${name} OUTPUT_VARIABLE _path
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT IS_ABSOLUTE "${_path}" OR NOT EXISTS "${_path}")
    message(FATAL_ERROR "${name} not found (bash infra/install-deps.sh --bundle installs it)")
  endif()
  set(${var} "${_path}" PARENT_SCOPE)
endfunction()

_mosaic_static_archive(_zstd libzstd.a)
_mosaic_static_archive(_webp libwebp.a)

set(GDAL_USE_ZSTD ON CACHE BOOL "ZSTD-compressed TIFFs (static libzstd)")
# Module mode only: zstd's CMake package would hand GDAL the shared library.
set(GDAL_CHECK_PACKAGE_ZSTD_NAMES "" CACHE STRING "")
set(ZSTD_INCLUDE_DIR /usr/include CACHE PATH "")
set(ZSTD_LIBRARY "${_zstd}" CACHE FILEPATH "")

set(GDAL_USE_WEBP ON CACHE BOOL "WebP-compressed TIFFs (static libwebp)")
set(WEBP_INCLUDE_DIR /usr/include CACHE PATH "")
set(WEBP_LIBRARY "${_webp}" CACHE FILEPATH "")
