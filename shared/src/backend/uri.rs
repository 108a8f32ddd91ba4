//! Mosaic URIs: every scheme cogeo-mosaic accepts, parsed into a typed location.

use std::path::PathBuf;

use crate::{Error, Result};

/// A parsed mosaic location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MosaicUri {
    /// `:memory:` or an empty string.
    Memory,
    /// A local path (bare, or `file://`); `.gz` means gzip.
    File(PathBuf),
    /// `s3://{bucket}/{key}`.
    S3 {
        /// Bucket.
        bucket: String,
        /// Object key.
        key: String,
    },
    /// `gs://{bucket}/{key}`.
    Gcs {
        /// Bucket.
        bucket: String,
        /// Object key.
        key: String,
    },
    /// `az://{account}.blob.core.windows.net/{container}/{key}`.
    Azure {
        /// Storage account (the host's first label).
        account: String,
        /// Host as given.
        host: String,
        /// Container.
        container: String,
        /// Blob key (the path after the container, removed as a prefix).
        key: String,
    },
    /// `dynamodb://[{region}]/{table}:{mosaic}`.
    DynamoDb {
        /// Region (`None`: `AWS_REGION`, else us-east-1).
        region: Option<String>,
        /// Table.
        table: String,
        /// Mosaic id inside the table.
        mosaic: String,
    },
    /// `sqlite:///{path}:{mosaic}`.
    Sqlite {
        /// Database file (`:memory:` allowed).
        path: String,
        /// Mosaic (table) name.
        mosaic: String,
    },
    /// `http(s)://...` (read-only).
    Http(String),
    /// `stac+http(s)://...` search endpoint (read-only); holds the URL without `stac+`.
    Stac(String),
}

fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn region_ok(s: &str) -> bool {
    // `us-east-1`, `eu-west-3`, also multi-part regions such as `us-gov-west-1` (refused upstream).
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

impl MosaicUri {
    /// Parses a URI the way cogeo-mosaic's `MosaicBackend` dispatches it.
    ///
    /// ```
    /// use mosaic::backend::MosaicUri;
    /// assert_eq!(MosaicUri::parse(":memory:").unwrap(), MosaicUri::Memory);
    /// assert!(matches!(MosaicUri::parse("dynamodb:///mosaics:m1").unwrap(), MosaicUri::DynamoDb { region: None, .. }));
    /// assert!(MosaicUri::parse("ftp://host/x.json").is_err());
    /// ```
    pub fn parse(uri: &str) -> Result<MosaicUri> {
        let bad = |reason: &str| Error::InvalidUri {
            uri: uri.to_string(),
            reason: reason.to_string(),
        };
        if uri.is_empty() || uri == ":memory:" {
            return Ok(MosaicUri::Memory);
        }
        let Some((scheme, rest)) = uri.split_once("://") else {
            return Ok(MosaicUri::File(PathBuf::from(uri)));
        };
        let scheme_lc = scheme.to_ascii_lowercase();
        if let Some(inner) = scheme_lc.strip_prefix("stac+") {
            if inner != "http" && inner != "https" {
                return Err(bad(
                    "a STAC search URL must be stac+http:// or stac+https://",
                ));
            }
            return Ok(MosaicUri::Stac(format!("{inner}://{rest}")));
        }
        let split_bucket = |rest: &str| -> Result<(String, String)> {
            let (bucket, key) = rest
                .split_once('/')
                .ok_or_else(|| bad("expected {bucket}/{key}"))?;
            let key = key.trim_matches('/');
            if bucket.is_empty() || key.is_empty() {
                return Err(bad("expected {bucket}/{key}"));
            }
            Ok((bucket.to_string(), key.to_string()))
        };
        match scheme_lc.as_str() {
            "s3" => split_bucket(rest).map(|(bucket, key)| MosaicUri::S3 { bucket, key }),
            "gs" => split_bucket(rest).map(|(bucket, key)| MosaicUri::Gcs { bucket, key }),
            "az" => {
                let (host, path) = rest.split_once('/').ok_or_else(|| {
                    bad("expected {account}.blob.core.windows.net/{container}/{key}")
                })?;
                let (container, key) = path
                    .split_once('/')
                    .ok_or_else(|| bad("expected /{container}/{key}"))?;
                let key = key.trim_matches('/');
                let account = host.split('.').next().unwrap_or_default();
                if host.is_empty() || account.is_empty() || container.is_empty() || key.is_empty() {
                    return Err(bad(
                        "expected {account}.blob.core.windows.net/{container}/{key}",
                    ));
                }
                Ok(MosaicUri::Azure {
                    account: account.into(),
                    host: host.into(),
                    container: container.into(),
                    key: key.into(),
                })
            }
            "dynamodb" => {
                let (region, path) = rest
                    .split_once('/')
                    .ok_or_else(|| bad("expected dynamodb://[{region}]/{table}:{mosaic}"))?;
                let (table, mosaic) = path
                    .split_once(':')
                    .ok_or_else(|| bad("expected {table}:{mosaic}"))?;
                if !name_ok(table) || !name_ok(mosaic) {
                    return Err(bad("table and mosaic names use [A-Za-z0-9_.-]"));
                }
                if !region.is_empty() && !region_ok(region) {
                    return Err(bad("region must look like us-east-1"));
                }
                Ok(MosaicUri::DynamoDb {
                    region: (!region.is_empty()).then(|| region.to_string()),
                    table: table.into(),
                    mosaic: mosaic.into(),
                })
            }
            "sqlite" => {
                let path = rest
                    .strip_prefix('/')
                    .ok_or_else(|| bad("expected sqlite:///{path}:{mosaic}"))?;
                let (db, mosaic) = path
                    .rsplit_once(':')
                    .ok_or_else(|| bad("expected sqlite:///{path}:{mosaic}"))?;
                if db.is_empty() || !name_ok(mosaic) {
                    return Err(bad(
                        "expected sqlite:///{path}:{mosaic} with a [A-Za-z0-9_.-] mosaic name",
                    ));
                }
                if mosaic.eq_ignore_ascii_case("mosaicjson_metadata") {
                    return Err(bad("`mosaicjson_metadata` is a reserved name"));
                }
                Ok(MosaicUri::Sqlite {
                    path: db.into(),
                    mosaic: mosaic.into(),
                })
            }
            "http" | "https" => {
                if rest.is_empty() {
                    return Err(bad("missing host"));
                }
                Ok(MosaicUri::Http(uri.to_string()))
            }
            "file" => {
                // `file:///a/b` → `/a/b`; a host part is dropped as urlparse's `.path` drops it.
                let path = if rest.starts_with('/') {
                    rest
                } else {
                    rest.find('/').map(|i| &rest[i..]).unwrap_or("")
                };
                if path.is_empty() {
                    return Err(bad("empty path"));
                }
                Ok(MosaicUri::File(PathBuf::from(path)))
            }
            _ => Err(Error::UnknownScheme {
                scheme: scheme.to_string(),
            }),
        }
    }

    /// The scheme name used in messages (`file`, `s3`, ...).
    pub fn scheme(&self) -> &'static str {
        match self {
            MosaicUri::Memory => "memory",
            MosaicUri::File(_) => "file",
            MosaicUri::S3 { .. } => "s3",
            MosaicUri::Gcs { .. } => "gs",
            MosaicUri::Azure { .. } => "az",
            MosaicUri::DynamoDb { .. } => "dynamodb",
            MosaicUri::Sqlite { .. } => "sqlite",
            MosaicUri::Http(u) if u.starts_with("https") => "https",
            MosaicUri::Http(_) => "http",
            MosaicUri::Stac(_) => "stac",
        }
    }

    /// True for schemes that can only be read.
    pub fn is_read_only(&self) -> bool {
        matches!(self, MosaicUri::Http(_) | MosaicUri::Stac(_))
    }
}

/// A place holding many mosaics: what `list` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `dynamodb://[{region}]/{table}`.
    DynamoDbTable {
        /// Region, when given.
        region: Option<String>,
        /// Table.
        table: String,
    },
    /// `sqlite:///{path}`.
    SqliteFile(String),
}

impl Location {
    /// The URI scheme: `dynamodb` or `sqlite`.
    pub fn scheme(&self) -> &'static str {
        match self {
            Location::DynamoDbTable { .. } => "dynamodb",
            Location::SqliteFile(_) => "sqlite",
        }
    }

    /// The cargo feature of its backend (the same name as the scheme).
    pub fn feature(&self) -> &'static str {
        self.scheme()
    }
}

/// Parses `dynamodb://[{region}]/{table}` or `sqlite:///{path}` (a mosaic URI of either is
/// accepted too: its `:{mosaic}` is ignored, unless the whole SQLite path is an existing
/// file, as cogeo-mosaic's `list_mosaics_in_db` reads it).
pub fn parse_location(location: &str) -> Result<Location> {
    let bad = |reason: &str| Error::InvalidUri {
        uri: location.to_string(),
        reason: reason.to_string(),
    };
    if let Some(path) = location.strip_prefix("sqlite:///")
        && std::path::Path::new(path).is_file()
    {
        return Ok(Location::SqliteFile(path.to_string()));
    }
    if let Ok(MosaicUri::DynamoDb { region, table, .. }) = MosaicUri::parse(location) {
        return Ok(Location::DynamoDbTable { region, table });
    }
    if let Ok(MosaicUri::Sqlite { path, .. }) = MosaicUri::parse(location) {
        return Ok(Location::SqliteFile(path));
    }
    if let Some(rest) = location.strip_prefix("dynamodb://") {
        let (region, table) = rest
            .split_once('/')
            .ok_or_else(|| bad("expected dynamodb://[{region}]/{table}"))?;
        if !name_ok(table) {
            return Err(bad("table names use [A-Za-z0-9_.-]"));
        }
        if !region.is_empty() && !region_ok(region) {
            return Err(bad("region must look like us-east-1"));
        }
        return Ok(Location::DynamoDbTable {
            region: (!region.is_empty()).then(|| region.to_string()),
            table: table.to_string(),
        });
    }
    if let Some(path) = location.strip_prefix("sqlite:///") {
        if path.is_empty() {
            return Err(bad("expected sqlite:///{path}"));
        }
        return Ok(Location::SqliteFile(path.to_string()));
    }
    Err(bad(
        "expected dynamodb://[{region}]/{table} or sqlite:///{path}",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheme_parses() {
        assert_eq!(MosaicUri::parse("").unwrap(), MosaicUri::Memory);
        assert_eq!(
            MosaicUri::parse("a/b.json").unwrap(),
            MosaicUri::File("a/b.json".into())
        );
        assert_eq!(
            MosaicUri::parse("file:///a/b.json.gz").unwrap(),
            MosaicUri::File("/a/b.json.gz".into())
        );
        assert_eq!(
            MosaicUri::parse("s3://bucket/dir/m.json.gz").unwrap(),
            MosaicUri::S3 {
                bucket: "bucket".into(),
                key: "dir/m.json.gz".into()
            }
        );
        assert_eq!(
            MosaicUri::parse("gs://b/k.json").unwrap(),
            MosaicUri::Gcs {
                bucket: "b".into(),
                key: "k.json".into()
            }
        );
        // the key is what follows the container, not a character strip of it
        assert_eq!(
            MosaicUri::parse("az://acc.blob.core.windows.net/container/test.json").unwrap(),
            MosaicUri::Azure {
                account: "acc".into(),
                host: "acc.blob.core.windows.net".into(),
                container: "container".into(),
                key: "test.json".into()
            }
        );
        assert_eq!(
            MosaicUri::parse("dynamodb://us-gov-west-1/tbl:m.1").unwrap(),
            MosaicUri::DynamoDb {
                region: Some("us-gov-west-1".into()),
                table: "tbl".into(),
                mosaic: "m.1".into()
            }
        );
        assert_eq!(
            MosaicUri::parse("sqlite:////abs/x.db:m").unwrap(),
            MosaicUri::Sqlite {
                path: "/abs/x.db".into(),
                mosaic: "m".into()
            }
        );
        assert_eq!(
            MosaicUri::parse("sqlite:///:memory::m").unwrap(),
            MosaicUri::Sqlite {
                path: ":memory:".into(),
                mosaic: "m".into()
            }
        );
        assert_eq!(
            MosaicUri::parse("https://h/m.json").unwrap(),
            MosaicUri::Http("https://h/m.json".into())
        );
        assert_eq!(
            MosaicUri::parse("stac+https://h/search").unwrap(),
            MosaicUri::Stac("https://h/search".into())
        );
    }

    #[test]
    fn locations_parse() {
        assert_eq!(
            parse_location("dynamodb:///t").unwrap(),
            Location::DynamoDbTable {
                region: None,
                table: "t".into()
            }
        );
        assert_eq!(
            parse_location("dynamodb://eu-west-1/t:m").unwrap(),
            Location::DynamoDbTable {
                region: Some("eu-west-1".into()),
                table: "t".into()
            }
        );
        assert_eq!(
            parse_location("sqlite:////abs/x.db").unwrap(),
            Location::SqliteFile("/abs/x.db".into())
        );
        for bad in [
            "dynamodb://",
            "dynamodb:///",
            "dynamodb://x/t",
            "sqlite:///",
            "s3://b/k",
        ] {
            assert!(parse_location(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_uris_are_typed_errors() {
        assert!(matches!(
            MosaicUri::parse("ftp://h/x"),
            Err(Error::UnknownScheme { .. })
        ));
        for bad in [
            "s3://bucket",
            "s3:///key",
            "dynamodb://us-east-1/table",
            "dynamodb://nowhere/t:m",
            "dynamodb:///t:m/x",
            "sqlite:///db.sqlite",
            "sqlite:///db.sqlite:mosaicjson_metadata",
            "sqlite:///db.sqlite:MOSAICJSON_METADATA",
            "az://acc.blob.core.windows.net/container",
            "stac+ftp://h/search",
        ] {
            assert!(
                matches!(MosaicUri::parse(bad), Err(Error::InvalidUri { .. })),
                "{bad}"
            );
        }
    }
}
