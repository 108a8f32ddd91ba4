//! The last link arguments of a binary built with `mosaic/bundled-gdal`.
//!
//! `gdal-src` links GDAL as a static archive but does not name what that archive needs
//! beyond PROJ, curl and SQLite: the ZSTD and WebP codecs turned on by
//! `infra/gdal/bundle.cmake`, and the C++ runtime (`link-cplusplus` is told to link
//! nothing, so that it is not `libstdc++.so`). Static archives must come *after* the archive
//! that uses them on the linker's command line, and the order of native libraries between
//! unrelated crates is not under our control; `-C link-arg`s come after every library, so
//! the binary's own build script adds them there. It also binds `hypot`/`hypotf` to their
//! pre-2.35 glibc versions (`c/glibc_compat.c`), so that the artifact runs on the glibc
//! 2.34 of Amazon Linux 2023 though it is linked on a newer one. Called from the build
//! scripts of the
//! functions that render or read COGs (`tiler`, `ingest`):
//!
//! ```text
//! // build.rs
//! fn main() {
//!     bundle_link::link_bundled_gdal();
//! }
//! ```

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// The wrappers binding symbols to versions old enough for Amazon Linux 2023.
const COMPAT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/c/glibc_compat.c");

/// Static archives appended after GDAL, in dependency order.
const ARCHIVES: &[&str] = &["libwebp.a", "libzstd.a", "libstdc++.a"];

/// Emits the link arguments when the package's `bundled-gdal` feature is on; does nothing
/// otherwise (the development build links the system GDAL, which brings its own).
pub fn link_bundled_gdal() {
    println!("cargo:rerun-if-env-changed=CARGO_FEATURE_BUNDLED_GDAL");
    if env::var_os("CARGO_FEATURE_BUNDLED_GDAL").is_none() {
        return;
    }
    println!("cargo:rerun-if-changed={}", COMPAT);
    let base = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("aarch64") => "GLIBC_2.17",
        _ => "GLIBC_2.2.5",
    };
    for archive in ARCHIVES {
        let path = archive_path(archive);
        println!("cargo:rustc-link-arg-bins={path}");
    }
    // Last: GDAL and libstdc++ call hypot, which --wrap turns into calls to the wrappers.
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo for build scripts"));
    cc::Build::new()
        .file(COMPAT)
        .define("BASE", base)
        .cargo_metadata(false)
        .compile("mosaic_glibc_compat");
    println!(
        "cargo:rustc-link-arg-bins={}",
        out.join("libmosaic_glibc_compat.a").display()
    );
    for symbol in ["hypot", "hypotf"] {
        println!("cargo:rustc-link-arg-bins=-Wl,--wrap={symbol}");
    }
    // libstdc++ uses libm; the C library and libgcc_s follow from the compiler driver.
    println!("cargo:rustc-link-arg-bins=-lm");
}

/// The full path of a static archive in the C compiler's search path.
fn archive_path(name: &str) -> String {
    let cc = env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let out = Command::new(&cc)
        .arg(format!("-print-file-name={name}"))
        .output()
        .unwrap_or_else(|e| panic!("{cc} -print-file-name={name}: {e}"));
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    // The compiler echoes the bare name back when it does not find the file.
    if !path.starts_with('/') {
        panic!("{name} not found by {cc}: bash infra/install-deps.sh --bundle installs it");
    }
    path
}
