//! Shared helpers for the workspace integration tests: where the reference data lives and
//! how to read its files. Tests read the set's manifests rather than hard-coding names, so
//! they run unchanged on any data set of the same layout (`MOSAIC_REFDATA=/path/to/set`).

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The reference data set directory: `$MOSAIC_REFDATA`, else `../shared/refdata/public`
/// beside the workspace.
pub fn refdata() -> PathBuf {
    if let Some(dir) = std::env::var_os("MOSAIC_REFDATA") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/refdata/public")
}

/// Reads a file of the set (path relative to the set), gunzipping `.gz` files.
pub fn read_bytes(rel: &str) -> Vec<u8> {
    let path = refdata().join(rel);
    let raw =
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    if rel.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .expect("gunzip");
        out
    } else {
        raw
    }
}

/// Reads a JSON file of the set.
pub fn read_json(rel: &str) -> Value {
    serde_json::from_slice(&read_bytes(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The property named by an accessor such as `lambda feature: feature["properties"]["path"]`.
pub fn accessor_property(accessor: Option<&str>) -> String {
    let Some(acc) = accessor else {
        return "path".into();
    };
    acc.rsplit("[\"")
        .next()
        .and_then(|s| s.split('"').next())
        .unwrap_or("path")
        .to_string()
}

/// The path of the `mosaic` binary built for this test run.
pub fn mosaic_bin() -> PathBuf {
    let mut p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/mosaic");
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        p = PathBuf::from(dir).join("debug/mosaic");
    }
    p
}
