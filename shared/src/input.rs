//! Inputs named on a command line: a file path, or `-` for stdin. The CLI and the
//! functions' local mode (which read their event this way) share these, and their errors.

use std::io::Read;

use serde_json::Value;

use crate::{Error, Result};

/// A JSON document from a file or, for `-`, stdin.
pub fn read_json(path: &str) -> Result<Value> {
    serde_json::from_slice(&read_bytes(path)?)
        .map_err(|e| Error::InvalidInput(format!("{path} is not JSON: {e}")))
}

/// The bytes of a file or, for `-`, of stdin.
pub fn read_bytes(path: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    if path == "-" {
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("<stdin>", e))?;
    } else {
        open_file(path)?
            .read_to_end(&mut buf)
            .map_err(|e| Error::io(path, e))?;
    }
    Ok(buf)
}

/// Opens an input file: missing → [`Error::Io`] saying so, with the path (exit 66: an input
/// file is not a mosaic, so not [`Error::NotFound`]'s "mosaic not found"), a directory →
/// [`Error::InvalidInput`] (a usage error, exit 64).
pub fn open_file(path: &str) -> Result<std::fs::File> {
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(Error::InvalidInput(format!(
            "{path} is a directory, not a file"
        )));
    }
    std::fs::File::open(path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_is_not_found_and_directory_is_invalid_input() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.json");
        let e = read_json(missing.to_str().unwrap()).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e:?}");
        assert_eq!(e.exit_code(), 66);
        assert!(e.to_string().contains("missing.json"), "{e}");
        assert!(matches!(
            read_json(dir.path().to_str().unwrap()),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn text_that_is_not_json_is_invalid_input() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, b"{not json").unwrap();
        let path = path.to_str().unwrap();
        match read_json(path) {
            Err(Error::InvalidInput(msg)) => {
                assert!(msg.starts_with(&format!("{path} is not JSON")))
            }
            other => panic!("{other:?}"),
        }
        std::fs::write(dir.path().join("ok.json"), br#"{"a": 1}"#).unwrap();
        let ok = read_json(dir.path().join("ok.json").to_str().unwrap()).unwrap();
        assert_eq!(ok["a"], 1);
    }
}
