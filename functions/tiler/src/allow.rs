//! `MOSAIC_ALLOWED_URLS`: which mosaics and assets a request may make the server read.
//! Entries are URI prefixes (`s3://bucket/`, `https://host/path/`) or absolute directories;
//! `*` allows everything. Paths are normalised lexically first (`..` resolved, relative paths
//! against the working directory), and link-local / cloud metadata hosts are always refused.

use std::path::{Component, Path, PathBuf};

/// A set of allowed URI prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    any: bool,
    prefixes: Vec<String>,
}

/// Resolves `.`/`..` without touching the file system; `None` when `..` climbs above the root.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() || out.as_os_str().is_empty() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    Some(out)
}

fn is_blocked_host(host: &str) -> bool {
    let h = host
        .trim_start_matches('[')
        .split(']')
        .next()
        .unwrap_or(host);
    let h = h
        .rsplit_once(':')
        .filter(|(a, p)| !a.contains(':') && p.chars().all(|c| c.is_ascii_digit()))
        .map(|(a, _)| a)
        .unwrap_or(h);
    let h = h.to_ascii_lowercase();
    h.starts_with("169.254.")
        || h == "metadata.google.internal"
        || h == "metadata"
        || h.starts_with("fe80:")
        || h == "fd00:ec2::254"
        || h == "100.100.100.200"
}

impl AllowList {
    /// Parses a comma-separated list.
    pub fn parse(text: &str) -> AllowList {
        let mut list = AllowList {
            any: false,
            prefixes: Vec::new(),
        };
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                list.any = true;
            } else if let Some(p) = canonical(entry) {
                list.prefixes.push(p);
            }
        }
        list
    }

    /// A list of the given entries.
    pub fn of(entries: &[String]) -> AllowList {
        AllowList::parse(&entries.join(","))
    }

    /// The entries (canonical form).
    pub fn entries(&self) -> &[String] {
        &self.prefixes
    }

    /// Checks a mosaic or asset URI; `Err` says why it is refused.
    pub fn check(&self, uri: &str) -> Result<(), String> {
        let canon = canonical(uri)
            .ok_or_else(|| format!("`{uri}` is not an allowed location (path leaves the root)"))?;
        if let Some(rest) = canon.split_once("://").map(|(_, r)| r) {
            let host = rest.split('/').next().unwrap_or("");
            if is_blocked_host(host) {
                return Err(format!(
                    "`{uri}`: link-local and metadata addresses are never read"
                ));
            }
        }
        if self.any {
            return Ok(());
        }
        // A database entry (`dynamodb:///table`, `sqlite:///file.db`) allows its mosaics
        // (`…:{mosaic}`).
        let database = canon.starts_with("dynamodb://") || canon.starts_with("sqlite://");
        let ok = self.prefixes.iter().any(|p| {
            let rest = canon.strip_prefix(p.as_str());
            canon == *p
                || rest.is_some_and(|r| {
                    p.ends_with('/') || r.starts_with('/') || (database && r.starts_with(':'))
                })
        });
        if ok {
            Ok(())
        } else {
            Err(format!("`{uri}` is not in MOSAIC_ALLOWED_URLS"))
        }
    }
}

/// Canonical form used for prefix checks: URLs as given (with `stac+` and `file://` handled),
/// paths absolute and normalised. `None` for paths escaping the root.
pub fn canonical(uri: &str) -> Option<String> {
    let path_part = match uri.split_once("://") {
        Some(("file", rest)) => rest,
        Some((scheme, rest)) => {
            // Normalise the path part of URLs too, so `s3://b/allowed/../secret` is caught.
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            let norm = normalize(&Path::new("/").join(path))?;
            return Some(format!(
                "{}://{host}{}",
                scheme.to_ascii_lowercase(),
                norm.to_string_lossy()
            ));
        }
        None => uri,
    };
    let p = Path::new(path_part);
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(p)
    };
    normalize(&abs).map(|n| n.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_entries_allow_their_mosaics() {
        let list = AllowList::parse("dynamodb:///mosaics, sqlite:///data/m.db");
        assert!(list.check("dynamodb:///mosaics:landsat").is_ok());
        assert!(list.check("dynamodb:///mosaics-other:landsat").is_err());
        assert!(list.check("sqlite:///data/m.db:one").is_ok());
        assert!(list.check("sqlite:///data/m.dbx:one").is_err());
        assert!(list.check("s3://mosaics:x/k").is_err());
    }

    #[test]
    fn prefixes_traversal_and_metadata() {
        let list =
            AllowList::parse("/data/demo, s3://bucket/mosaics/, https://cdn.example.com/cogs/");
        assert!(list.check("/data/demo/m.json").is_ok());
        assert!(list.check("file:///data/demo/sub/m.json").is_ok());
        assert!(list.check("/data/demo-evil/m.json").is_err());
        assert!(list.check("/data/demo/../secret.json").is_err());
        assert!(list.check("/data/demo/../../../../../etc/passwd").is_err());
        assert!(list.check("s3://bucket/mosaics/a.json.gz").is_ok());
        assert!(list.check("s3://bucket/mosaics/../private/a.json").is_err());
        assert!(list.check("s3://other/mosaics/a.json").is_err());
        assert!(list.check("https://cdn.example.com/cogs/a.tif").is_ok());
        assert!(
            AllowList::parse("*")
                .check("http://169.254.169.254/latest/meta-data/")
                .is_err()
        );
        assert!(
            AllowList::parse("*")
                .check("http://metadata.google.internal/x")
                .is_err()
        );
        assert!(AllowList::parse("*").check("s3://any/thing.json").is_ok());
        assert!(AllowList::parse("").check("/data/demo/m.json").is_err());
    }
}
