//! Where results go: stdout or an output file or URI, progress bars and warnings on stderr.

use std::io::Write;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde_json::Value;

use crate::backend::{self, WriteMode};
use crate::create::Progress;
use crate::mosaicjson::MosaicJson;
use crate::pyjson::dumps;
use crate::{Error, Result};

/// indicatif's bar as the library's [`Progress`].
#[derive(Debug)]
struct Bar(ProgressBar);

impl Progress for Bar {
    fn set_length(&self, len: u64) {
        self.0.set_length(len);
    }
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// A progress bar on stderr labelled `label`, or none when `quiet`.
pub(super) fn progress(len: u64, label: &str, quiet: bool) -> Option<Arc<dyn Progress>> {
    if quiet {
        return None;
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg:22} [{bar:30}] {pos}/{len} {percent}%") {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(label.to_string());
    Some(Arc::new(Bar(pb)))
}

/// A warning on stderr; the command goes on.
pub(super) fn warn(msg: &str) {
    eprintln!("Warning: {msg}");
}

/// One line on stdout.
pub(super) fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(|e| Error::io("<stdout>", e))
}

/// `value` as Python's `json.dumps` writes it (cogeo-mosaic's output), on one line.
pub(super) fn print_py_json(value: &Value) -> Result<()> {
    print(&py_json(value)?)
}

/// `value` as compact JSON, on one line.
pub(super) fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    print(&serde_json::to_string(value).map_err(|e| Error::InvalidInput(e.to_string()))?)
}

/// `value` as Python's `json.dumps` writes it.
pub(super) fn py_json(value: &Value) -> Result<String> {
    dumps(value).map_err(|e| Error::InvalidInput(e.to_string()))
}

/// Bytes to the `output` file, or to stdout when there is none.
pub(super) fn write_bytes(bytes: &[u8], output: Option<String>) -> Result<()> {
    match output {
        Some(path) => std::fs::write(&path, bytes).map_err(|e| Error::io(path, e)),
        None => std::io::stdout()
            .lock()
            .write_all(bytes)
            .map_err(|e| Error::io("<stdout>", e)),
    }
}

/// A mosaic to the `output` URI (overwritten), or to stdout as one JSON line.
pub(super) async fn emit_document(doc: &MosaicJson, output: Option<&str>) -> Result<()> {
    match output {
        Some(uri) => {
            backend::open_writer(uri)?
                .write(doc, WriteMode::Overwrite)
                .await
        }
        None => {
            let mut out = std::io::stdout().lock();
            doc.write_json(&mut out)
                .and_then(|_| out.write_all(b"\n"))
                .map_err(|e| Error::io("<stdout>", e))
        }
    }
}
