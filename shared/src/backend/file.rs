//! Local files: `.json` or `.json.gz` (gzip also recognised by its magic bytes on read).
//! Writes go to a temporary file in the same directory and are renamed into place, so a
//! reader never sees half a document; `WriteMode::Create` links without replacing, so two
//! creators cannot both win.

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::{DocumentBackend, MosaicWrite, WriteMode};
use crate::create::{Footprint, UpdateOptions};
use crate::error::run_blocking;
use crate::mosaicjson::MosaicJson;
use crate::{Error, Result};

/// Reads a regular file (devices, FIFOs and directories are refused) of at most
/// `max_bytes` and parses it with the same bound on its decompressed size.
async fn read_document(uri: &str, path: &Path, max_bytes: u64) -> Result<(MosaicJson, u64)> {
    let (uri, path) = (uri.to_string(), path.to_path_buf());
    run_blocking("read", move || {
        let file = std::fs::File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound { uri: uri.clone() },
            _ => Error::io(&path, e),
        })?;
        let meta = file.metadata().map_err(|e| Error::io(&path, e))?;
        if !meta.is_file() {
            return Err(Error::InvalidInput(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        // Bounded by what is read, not by the size announced (a file may grow meanwhile).
        let bytes = crate::limits::read_bounded(
            file,
            max_bytes,
            &format!("the document {}", path.display()),
            |e| Error::io(&path, e),
        )?;
        let size = bytes.len() as u64;
        let doc = MosaicJson::from_slice_limited(&bytes, max_bytes)?;
        Ok((doc, size))
    })
    .await
}

/// Reads and indexes the document at `path` (`uri` names it in errors and `info`).
pub async fn open(uri: &str, path: impl AsRef<Path>) -> Result<DocumentBackend> {
    open_limited(uri, path, u64::MAX).await
}

/// [`open`] refusing documents over `max_bytes` (file size or decompressed size).
pub async fn open_limited(
    uri: &str,
    path: impl AsRef<Path>,
    max_bytes: u64,
) -> Result<DocumentBackend> {
    let (doc, size) = read_document(uri, path.as_ref(), max_bytes).await?;
    DocumentBackend::new(uri, "File", doc, size)
}

/// Writes mosaics to a local file.
#[derive(Debug, Clone)]
pub struct FileWriter {
    uri: String,
    path: PathBuf,
}

impl FileWriter {
    /// A writer for `path`.
    pub fn new(uri: &str, path: impl Into<PathBuf>) -> FileWriter {
        FileWriter {
            uri: uri.to_string(),
            path: path.into(),
        }
    }
}

/// Writes `bytes` to `path` atomically (temp file in the same directory, then rename).
fn write_atomic(uri: &str, path: &Path, bytes: &[u8], mode: WriteMode) -> Result<()> {
    write_atomic_with(uri, path, mode, |w| w.write_all(bytes))
}

/// Writes into a temp file beside `path` with `fill`, then renames (or links) it into place.
fn write_atomic_with(
    uri: &str,
    path: &Path,
    mode: WriteMode,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".mosaic-").suffix(".tmp");
    // The temp file becomes the document: created 0666 & !umask as `File::create` would
    // (tempfile's default is 0600), and a replaced file keeps its permission bits.
    #[cfg(unix)]
    let existing_mode = {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
        match mode {
            WriteMode::Overwrite => std::fs::metadata(path)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.permissions().mode() & 0o777),
            WriteMode::Create => None,
        }
    };
    let mut tmp = builder.tempfile_in(&dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound {
            uri: format!("{} (directory)", dir.display()),
        },
        _ => Error::io(&dir, e),
    })?;
    #[cfg(unix)]
    if let Some(bits) = existing_mode {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(bits))
            .map_err(|e| Error::io(tmp.path(), e))?;
    }
    fill(tmp.as_file_mut())
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| Error::io(tmp.path(), e))?;
    match mode {
        WriteMode::Create => {
            tmp.persist_noclobber(path)
                .map(|_| ())
                .map_err(|e| match e.error.kind() {
                    std::io::ErrorKind::AlreadyExists => Error::AlreadyExists {
                        uri: uri.to_string(),
                    },
                    _ => Error::io(path, e.error),
                })
        }
        WriteMode::Overwrite => tmp
            .persist(path)
            .map(|_| ())
            .map_err(|e| Error::io(path, e.error)),
    }
}

#[async_trait]
impl MosaicWrite for FileWriter {
    fn uri(&self) -> &str {
        &self.uri
    }

    async fn write(&self, doc: &MosaicJson, mode: WriteMode) -> Result<()> {
        let gz = self.path.to_string_lossy().ends_with(".gz");
        if tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread
        {
            // Stream the document into the file without an in-memory copy of either.
            return tokio::task::block_in_place(|| {
                write_atomic_with(&self.uri, &self.path, mode, |f| {
                    if gz {
                        let mut enc = flate2::GzBuilder::new()
                            .mtime(0)
                            .operating_system(3)
                            .write(std::io::BufWriter::new(f), flate2::Compression::best());
                        doc.write_json(&mut enc)?;
                        enc.finish()?.flush()
                    } else {
                        doc.write_json(f)
                    }
                })
            });
        }
        // Single-threaded runtime: serialize here, write on a blocking thread.
        let bytes = doc.to_bytes_for(&self.path.to_string_lossy());
        let (uri, path) = (self.uri.clone(), self.path.clone());
        run_blocking("write", move || write_atomic(&uri, &path, &bytes, mode)).await
    }

    async fn update(&self, footprints: &[Footprint], opts: &UpdateOptions) -> Result<MosaicJson> {
        // Read-modify-write; the rename keeps readers consistent. Concurrent updaters of one
        // local file are not arbitrated (object stores use conditional puts instead).
        let (mut doc, _) = read_document(&self.uri, &self.path, u64::MAX).await?;
        let (footprints, opts) = (footprints.to_vec(), opts.clone());
        let doc = run_blocking("update", move || {
            doc.update(&footprints, &opts).map(|_| doc)
        })
        .await?;
        self.write(&doc, WriteMode::Overwrite).await?;
        Ok(doc)
    }

    async fn delete(&self) -> Result<()> {
        tokio::fs::remove_file(&self.path)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::NotFound {
                    uri: self.uri.clone(),
                },
                _ => Error::io(&self.path, e),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{open, open_writer};
    use crate::create::{CreateOptions, Footprint};

    fn doc() -> MosaicJson {
        MosaicJson::from_footprints(
            &[Footprint::from_bbox("a.tif", [0.0, 0.0, 1.0, 1.0])],
            &CreateOptions::new(6, 8),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn write_read_gzip_refuse_overwrite_delete() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["m.json", "m.json.gz"] {
            let path = dir.path().join(name);
            let uri = path.to_str().unwrap();
            let w = open_writer(uri).unwrap();
            w.write(&doc(), WriteMode::Create).await.unwrap();
            let raw = std::fs::read(&path).unwrap();
            assert_eq!(raw.starts_with(&[0x1f, 0x8b]), name.ends_with(".gz"));
            let r = open(uri).await.unwrap();
            assert_eq!(*r.document(), doc());
            assert_eq!(r.stored_size(), Some(raw.len() as u64));
            let before = std::fs::read(&path).unwrap();
            assert!(matches!(
                w.write(&doc(), WriteMode::Create).await,
                Err(Error::AlreadyExists { .. })
            ));
            assert_eq!(
                std::fs::read(&path).unwrap(),
                before,
                "refused write must not touch the file"
            );
            w.write(&doc(), WriteMode::Overwrite).await.unwrap();
            w.delete().await.unwrap();
            assert!(matches!(open(uri).await, Err(Error::NotFound { .. })));
        }
        // no temp files left behind
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn update_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        let w = open_writer(path.to_str().unwrap()).unwrap();
        w.write(&doc(), WriteMode::Create).await.unwrap();
        let updated = w
            .update(
                &[Footprint::from_bbox("b.tif", [0.0, 0.0, 1.0, 1.0])],
                &UpdateOptions::default(),
            )
            .await
            .unwrap();
        assert_eq!(updated.version, "1.0.1");
        let r = open(path.to_str().unwrap()).await.unwrap();
        let assets = r
            .assets_for_point(0.5, 0.5, &Default::default())
            .await
            .unwrap();
        assert_eq!(assets, ["b.tif", "a.tif"]);
    }

    #[tokio::test]
    async fn corrupt_file_is_invalid_mosaic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        std::fs::write(&path, b"{\"mosaicjson\": \"0.0.3\"").unwrap();
        assert!(matches!(
            open(path.to_str().unwrap()).await,
            Err(Error::InvalidMosaic { .. })
        ));
    }

    /// The mode a plain `File::create` gives a new file in `dir` (0666 & !umask).
    #[cfg(unix)]
    fn created_mode(dir: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        let probe = dir.join("probe");
        std::fs::File::create(&probe).unwrap();
        let mode = std::fs::metadata(&probe).unwrap().permissions().mode() & 0o7777;
        std::fs::remove_file(&probe).unwrap();
        mode
    }

    /// Writes `doc()` (streamed) or a small buffer (`write_atomic`) to `path`.
    #[cfg(unix)]
    async fn write_to(path: &Path, mode: WriteMode, streaming: bool) {
        if streaming {
            FileWriter::new(path.to_str().unwrap(), path)
                .write(&doc(), mode)
                .await
                .unwrap();
        } else {
            write_atomic(path.to_str().unwrap(), path, b"{}", mode).unwrap();
        }
    }

    #[cfg(unix)]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replaced_file_keeps_its_mode_new_file_follows_umask() {
        use std::os::unix::fs::PermissionsExt;
        let mode_of = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        // The streaming path (multi-threaded runtime) and the buffered one.
        for streaming in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let expected_new = created_mode(dir.path());
            for (name, mode) in [
                ("a.json", WriteMode::Create),
                ("b.json", WriteMode::Overwrite),
            ] {
                let path = dir.path().join(name);
                write_to(&path, mode, streaming).await;
                assert_eq!(
                    mode_of(&path),
                    expected_new,
                    "{name}: a new file gets 0666 & !umask"
                );
            }
            // Modes a umask cannot produce from 0666, so the test tells them apart.
            for existing in [0o644, 0o640, 0o604, 0o664] {
                let path = dir.path().join("existing.json.gz");
                std::fs::write(&path, b"{}").unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(existing)).unwrap();
                write_to(&path, WriteMode::Overwrite, streaming).await;
                assert_eq!(
                    mode_of(&path),
                    existing,
                    "a replaced file keeps its mode {existing:o}"
                );
            }
        }
    }
}
