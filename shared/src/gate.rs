//! The security gate: the one place a location from a request, a mosaic document, a STAC
//! item or an event is checked before it reaches GDAL, the file system or the network.
//!
//! Two layers:
//! - [`check_gdal_input`] refuses GDAL's own syntaxes in any string handed to GDAL: inline
//!   XML (`<VRTDataset>`), virtual file system prefixes (`/vsicurl/`, `/vsimem/`, …) and
//!   driver connection strings (`GTIFF_DIR:1:…`, `MEM:::…`, `HDF5:…`). The library calls
//!   it on every asset it opens, whoever asked.
//! - [`Gate::admit`] turns a location into its canonical form and checks it against the
//!   allowlist (`MOSAIC_ALLOWED_URLS`): URLs are parsed with a WHATWG parser (decimal, hex
//!   and octal IPv4, IPv6-mapped addresses, trailing dots and `%2e%2e` are normalised
//!   before any comparison; credentials in URLs are refused), paths are resolved through
//!   symlinks (`realpath`) before the prefix check, and the canonical form is what the
//!   caller opens afterwards, so the check and the read see the same thing.
//!
//! Hosts are classified by [`classify_ip`]: link-local, cloud metadata, unspecified,
//! multicast and broadcast addresses are never admitted; loopback and private ranges only
//! when an allowlist entry names that host (or [`Gate::allow_private_networks`] is set).
//! Names are resolved and their addresses checked again at connection time by the tiler's
//! egress proxy, which every HTTP request of GDAL and of the mosaic readers goes through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

/// What a location is used for: mosaics may be databases and STAC searches, assets not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// A mosaic document or database.
    Mosaic,
    /// A COG read by GDAL.
    Asset,
}

/// How far an address may be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostClass {
    /// A public address (or a name to be resolved at connection time).
    Public,
    /// Loopback or a private range: only when named by the allowlist.
    Private,
    /// Link-local, cloud metadata, unspecified, multicast, broadcast: never.
    Blocked,
}

/// Host names of cloud metadata services (after lower-casing and removing a trailing dot).
const METADATA_NAMES: &[&str] = &[
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
];

fn classify_v4(ip: Ipv4Addr) -> HostClass {
    let o = ip.octets();
    if ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || o[0] == 0
        || o[0] >= 240
        // Alibaba Cloud and Oracle Cloud metadata endpoints.
        || ip == Ipv4Addr::new(100, 100, 100, 200)
        || ip == Ipv4Addr::new(192, 0, 0, 192)
    {
        HostClass::Blocked
    } else if ip.is_loopback()
        || ip.is_private()
        || (o[0] == 100 && (64..128).contains(&o[1])) // carrier-grade NAT
        || (o[0] == 198 && (o[1] == 18 || o[1] == 19)) // benchmarking
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
    {
        HostClass::Private
    } else {
        HostClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> HostClass {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    // Deprecated IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16)
    // addresses carry an IPv4 address that some stacks reach.
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return classify_v4(embedded(s[6], s[7]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return classify_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return classify_v4(embedded(s[1], s[2]));
    }
    if ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
    {
        HostClass::Blocked
    } else if ip.is_loopback() || (s[0] & 0xfe00) == 0xfc00 {
        HostClass::Private
    } else {
        HostClass::Public
    }
}

/// How far `ip` may be reached (see [`HostClass`]).
///
/// ```
/// use mosaic::gate::{classify_ip, HostClass};
/// use std::net::{IpAddr, Ipv4Addr};
/// let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
/// assert_eq!(classify_ip(v4(169, 254, 169, 254)), HostClass::Blocked);
/// assert_eq!(classify_ip(IpAddr::V6(Ipv4Addr::new(169, 254, 169, 254).to_ipv6_mapped())), HostClass::Blocked);
/// assert_eq!(classify_ip(v4(127, 0, 0, 1)), HostClass::Private);
/// assert_eq!(classify_ip(v4(8, 8, 8, 8)), HostClass::Public);
/// ```
pub fn classify_ip(ip: IpAddr) -> HostClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Classifies a host as written in a parsed URL (names: only the well-known ones; the
/// addresses a name resolves to are checked when connecting).
pub fn classify_host(host: &url::Host<&str>) -> HostClass {
    match host {
        url::Host::Ipv4(ip) => classify_v4(*ip),
        url::Host::Ipv6(ip) => classify_v6(*ip),
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if METADATA_NAMES.contains(&name.as_str()) {
                HostClass::Blocked
            } else if name == "localhost" || name.ends_with(".localhost") {
                HostClass::Private
            } else {
                HostClass::Public
            }
        }
    }
}

fn refuse(location: &str, reason: impl Into<String>) -> Error {
    Error::forbidden(location, reason)
}

/// Refuses GDAL's own syntaxes in a string that is about to be handed to GDAL: control
/// characters, inline XML, `/vsi…` prefixes and `DRIVER:…` connection strings. URLs of the
/// schemes GDAL reads through its network file systems (`http(s)://`, `s3://`, `gs://`,
/// `az://`, `file://`) and plain paths pass.
///
/// ```
/// use mosaic::gate::check_gdal_input;
/// assert!(check_gdal_input("/data/cogs/a.tif").is_ok());
/// assert!(check_gdal_input("s3://bucket/a.tif").is_ok());
/// assert!(check_gdal_input("GTIFF_DIR:1:/etc/secret.tif").is_err());
/// assert!(check_gdal_input("<VRTDataset/>").is_err());
/// assert!(check_gdal_input("/vsicurl/http://127.0.0.1/x.tif").is_err());
/// assert!(check_gdal_input("file://x/secret.tif").is_err());
/// assert!(check_gdal_input("file:///data/a.tif").is_ok());
/// ```
pub fn check_gdal_input(location: &str) -> Result<()> {
    if location.is_empty() {
        return Err(refuse(location, "empty location"));
    }
    if location.chars().any(|c| c.is_control()) {
        return Err(refuse(location, "control characters are not allowed"));
    }
    if location.trim_start().starts_with('<') {
        return Err(refuse(location, "inline XML (VRT) datasets are not read"));
    }
    let lower = location.trim_start().to_ascii_lowercase();
    if lower.starts_with("/vsi") || lower.starts_with("\\vsi") {
        return Err(refuse(
            location,
            "GDAL virtual file system prefixes are not read; give a path or an http(s)://, s3://, gs:// or az:// URL",
        ));
    }
    if scheme_of(location).as_deref() == Some("file") {
        // `file://HOST/path` names another machine's file; GDAL would read `HOST/path`
        // relative to the working directory.
        let host = location["file://".len()..].split('/').next().unwrap_or("");
        if !host.is_empty() && !host.eq_ignore_ascii_case("localhost") {
            return Err(refuse(
                location,
                format!("file URLs name a local path, not host `{host}`"),
            ));
        }
    }
    if scheme_of(location).is_none() && connection_string_prefix(location) {
        return Err(refuse(
            location,
            "GDAL connection strings (DRIVER:...) are not read; give a path or a URL",
        ));
    }
    Ok(())
}

/// `scheme` of `scheme://…` (RFC 3986 scheme characters), lower-cased.
fn scheme_of(location: &str) -> Option<String> {
    let (scheme, _) = location.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c)))
        .then(|| scheme.to_ascii_lowercase())
}

/// `NAME:` before any `/`: how GDAL names a driver-specific dataset (`GTIFF_DIR:`, `MEM:::`,
/// `NETCDF:`, `HDF5:`, `VRT:`…). A Windows drive letter looks the same and is refused too.
fn connection_string_prefix(location: &str) -> bool {
    let head = location.split('/').next().unwrap_or("");
    match head.split_once(':') {
        Some((name, _)) => {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
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

/// The real path of `path`: absolute (relative paths against the working directory),
/// symlinks resolved. A path that does not exist (yet) keeps its missing tail, appended to
/// the real path of its longest existing ancestor; `..` in that tail is refused.
pub fn real_path(path: &Path) -> Option<PathBuf> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    if let Ok(real) = std::fs::canonicalize(&abs) {
        return Some(real);
    }
    let mut tail = Vec::new();
    let mut head = abs.as_path();
    loop {
        let name = head.file_name()?;
        tail.push(name.to_os_string());
        head = head.parent()?;
        if let Ok(real) = std::fs::canonicalize(head) {
            let mut out = real;
            for part in tail.iter().rev() {
                if part == ".." {
                    return None;
                }
                out.push(part);
            }
            return normalize(&out);
        }
    }
}

/// Lexically normalised `/`-separated key of an object store URL; `None` when it escapes.
fn normalize_key(key: &str) -> Option<String> {
    let norm = normalize(&Path::new("/").join(key))?;
    Some(norm.to_string_lossy().trim_start_matches('/').to_string())
}

fn bucket_ok(bucket: &str) -> bool {
    (1..=222).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

/// A canonical location and, for network URLs, its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonical {
    /// What the caller opens: a real path, a normalised URL or a database URI.
    pub location: String,
    /// `host[:port]` of an `http(s)://` URL (lower-case, no trailing dot).
    pub host: Option<String>,
    /// Class of the host as written (names: [`HostClass::Public`] until resolved).
    pub class: HostClass,
}

impl Canonical {
    fn local(location: String) -> Canonical {
        Canonical {
            location,
            host: None,
            class: HostClass::Public,
        }
    }
}

/// `host[:port]` of a parsed URL, as compared with allowlist entries.
fn host_port(url: &url::Url) -> Option<String> {
    let host = match url.host()? {
        url::Host::Domain(d) => d.trim_end_matches('.').to_ascii_lowercase(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => format!("[{ip}]"),
    };
    Some(match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    })
}

fn canonical_http(location: &str, text: &str) -> Result<Canonical> {
    let mut url = url::Url::parse(text).map_err(|e| refuse(location, format!("not a URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(location, "credentials in URLs are not accepted"));
    }
    // Trailing dots name the same host (`169.254.169.254..` is the IP address once they
    // are dropped): drop them first and classify what is left.
    if let Some(url::Host::Domain(d)) = url.host()
        && d.ends_with('.')
    {
        let bare = d.trim_end_matches('.').to_string();
        url.set_host(Some(&bare))
            .map_err(|e| refuse(location, format!("invalid host: {e}")))?;
    }
    let host = url
        .host()
        .ok_or_else(|| refuse(location, "the URL has no host"))?;
    let class = classify_host(&host);
    if class == HostClass::Blocked {
        return Err(refuse(
            location,
            "link-local, metadata and unspecified addresses are never read",
        ));
    }
    url.set_fragment(None);
    Ok(Canonical {
        host: host_port(&url),
        location: url.to_string(),
        class,
    })
}

/// Canonical form of `location` for `use_`: what is compared with the allowlist and then
/// opened. Refuses what can never be read (see the module documentation).
pub fn canonical(location: &str, use_: Use) -> Result<Canonical> {
    check_gdal_input(location)?;
    let Some(scheme) = scheme_of(location) else {
        if location == ":memory:" {
            return Err(refuse(location, "a :memory: mosaic has nothing to read"));
        }
        return path_canonical(location, Path::new(location));
    };
    let rest = &location[scheme.len() + 3..];
    match (scheme.as_str(), use_) {
        ("http" | "https", _) => canonical_http(location, location),
        ("file", _) => {
            let url = url::Url::parse(location)
                .map_err(|e| refuse(location, format!("not a file URL: {e}")))?;
            match url.host_str() {
                None | Some("") | Some("localhost") => {}
                Some(h) => {
                    return Err(refuse(
                        location,
                        format!("file URLs name a local path, not host `{h}`"),
                    ));
                }
            }
            let path = url
                .to_file_path()
                .map_err(|_| refuse(location, "not a local path"))?;
            path_canonical(location, &path)
        }
        ("s3" | "gs", _) => {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if !bucket_ok(bucket) {
                return Err(refuse(location, format!("`{bucket}` is not a bucket name")));
            }
            let key =
                normalize_key(key).ok_or_else(|| refuse(location, "the key leaves the bucket"))?;
            Ok(Canonical::local(format!("{scheme}://{bucket}/{key}")))
        }
        ("az", _) => {
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = host.to_ascii_lowercase();
            let account = host.split('.').next().unwrap_or("");
            if account.is_empty()
                || !account
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                || !host[account.len()..].starts_with(".blob.")
            {
                return Err(refuse(
                    location,
                    "expected az://{account}.blob.core.windows.net/{container}/{key}",
                ));
            }
            let path = normalize_key(path)
                .ok_or_else(|| refuse(location, "the key leaves the container"))?;
            Ok(Canonical::local(format!("az://{host}/{path}")))
        }
        ("dynamodb", Use::Mosaic) => {
            crate::backend::MosaicUri::parse(location)?;
            Ok(Canonical::local(format!("dynamodb://{rest}")))
        }
        ("sqlite", Use::Mosaic) => match crate::backend::MosaicUri::parse(location)? {
            crate::backend::MosaicUri::Sqlite { path, mosaic } => {
                let real = path_canonical(location, Path::new(&path))?;
                // `sqlite:///` + the real (absolute) path, as MosaicUri parses it back.
                Ok(Canonical::local(format!(
                    "sqlite:///{}:{mosaic}",
                    real.location
                )))
            }
            _ => Err(refuse(location, "expected sqlite:///{path}:{mosaic}")),
        },
        (s, Use::Mosaic) if s.starts_with("stac+http") => {
            let inner = canonical_http(location, &location["stac+".len()..])?;
            Ok(Canonical {
                location: format!("stac+{}", inner.location),
                ..inner
            })
        }
        (other, _) => Err(refuse(
            location,
            format!("the `{other}` scheme is not read here"),
        )),
    }
}

fn path_canonical(location: &str, path: &Path) -> Result<Canonical> {
    let real = real_path(path).ok_or_else(|| refuse(location, "the path leaves the root"))?;
    let text = real.to_string_lossy().into_owned();
    // A real directory named like a GDAL prefix would still be read as one.
    check_gdal_input(&text)?;
    Ok(Canonical::local(text))
}

/// One allowlist entry in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    prefix: String,
    /// `host[:port]` of an http(s) entry: loopback and private addresses are admitted for it.
    host: Option<String>,
}

/// `MOSAIC_ALLOWED_URLS`: which mosaics and assets may be read. Entries are URI prefixes
/// (`s3://bucket/`, `https://host/path/`, `dynamodb:///table`, `sqlite:///file.db`) or
/// directories; `*` allows every location that is not refused outright. Entries are
/// canonicalised like the locations they are compared with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    any: bool,
    entries: Vec<Entry>,
}

impl AllowList {
    /// Parses a comma-separated list; entries that can never match are left out (with a warning).
    pub fn parse(text: &str) -> AllowList {
        let mut list = AllowList::default();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                list.any = true;
                continue;
            }
            let use_ = Use::Mosaic;
            let parsed = match scheme_of(entry).as_deref() {
                // `dynamodb:///table` and `sqlite:///file.db` have no mosaic part yet.
                Some("dynamodb") => Ok(Canonical::local(format!(
                    "dynamodb://{}",
                    &entry["dynamodb://".len()..]
                ))),
                Some("sqlite") => path_canonical(
                    entry,
                    Path::new(entry["sqlite://".len()..].strip_prefix('/').unwrap_or("")),
                )
                .map(|c| Canonical::local(format!("sqlite:///{}", c.location))),
                _ => canonical(entry, use_),
            };
            match parsed {
                Ok(c) => list.entries.push(Entry {
                    prefix: c.location,
                    host: c.host,
                }),
                Err(e) => tracing::warn!("MOSAIC_ALLOWED_URLS entry ignored: {e}"),
            }
        }
        list
    }

    /// A list of the given entries.
    pub fn of(entries: &[String]) -> AllowList {
        AllowList::parse(&entries.join(","))
    }

    /// The entries (canonical form).
    pub fn entries(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.prefix.as_str()).collect()
    }

    /// True when `*` is in the list.
    pub fn allows_any(&self) -> bool {
        self.any
    }

    fn matching(&self, canon: &str) -> Option<&Entry> {
        // A STAC search is read from its http(s) endpoint: an entry for the endpoint
        // (`http://host/`) allows the search (`stac+http://host/search`).
        if let Some(inner) = canon.strip_prefix("stac+")
            && let Some(entry) = self.matching(inner)
        {
            return Some(entry);
        }
        let database = canon.starts_with("dynamodb://") || canon.starts_with("sqlite://");
        self.entries.iter().find(|e| {
            let p = e.prefix.as_str();
            canon == p
                || canon.strip_prefix(p).is_some_and(|r| {
                    p.ends_with('/')
                        || r.starts_with('/')
                        || (database && r.starts_with(':'))
                        || (p.contains("://") && !p.starts_with("file") && r.starts_with('?'))
                })
        })
    }

    /// True when an entry names `host[:port]` itself (so its private address is intended).
    pub fn names_host(&self, host_port: &str) -> bool {
        self.entries
            .iter()
            .any(|e| e.host.as_deref() == Some(host_port))
    }

    /// Hosts (`host[:port]`) named by http(s) entries.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().filter_map(|e| e.host.as_deref())
    }

    /// True when some entry uses `scheme` (`s3`, `gs`, `az`, …).
    pub fn has_scheme(&self, scheme: &str) -> bool {
        self.any
            || self
                .entries
                .iter()
                .any(|e| e.prefix.starts_with(&format!("{scheme}://")))
    }
}

/// The allowlist and the policy around it; see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gate {
    /// Locations that may be read.
    pub allow: AllowList,
    /// Admit loopback and private addresses for any allowed host, not only for hosts the
    /// allowlist names (`MOSAIC_ALLOW_PRIVATE_NETWORKS`).
    pub allow_private_networks: bool,
}

impl Gate {
    /// A gate over `allow`, private networks only where named.
    pub fn new(allow: AllowList) -> Gate {
        Gate {
            allow,
            allow_private_networks: false,
        }
    }

    /// Checks `location` for `use_` and returns the canonical form to open.
    pub fn admit(&self, location: &str, use_: Use) -> Result<String> {
        let c = canonical(location, use_)?;
        let entry = self.allow.matching(&c.location);
        if entry.is_none() && !self.allow.any {
            return Err(refuse(location, "not in MOSAIC_ALLOWED_URLS"));
        }
        if c.class == HostClass::Private {
            let named = c.host.as_deref().is_some_and(|h| self.allow.names_host(h));
            if !named && !self.allow_private_networks {
                return Err(refuse(
                    location,
                    "loopback and private addresses are read only when MOSAIC_ALLOWED_URLS names the host",
                ));
            }
        }
        Ok(c.location)
    }

    /// Whether a connection to `ip` for `host[:port]` may be made (the egress check, after
    /// name resolution): never to a blocked address; to a private one only for a host the
    /// allowlist names, or when private networks are allowed.
    pub fn may_connect(&self, host_port: &str, ip: IpAddr) -> bool {
        match classify_ip(ip) {
            HostClass::Blocked => false,
            HostClass::Public => true,
            HostClass::Private => self.allow_private_networks || self.allow.names_host(host_port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(list: &str) -> Gate {
        Gate::new(AllowList::parse(list))
    }

    #[test]
    fn database_entries_allow_their_mosaics() {
        let g = gate("dynamodb:///mosaics, sqlite:////data/m.db");
        assert!(g.admit("dynamodb:///mosaics:landsat", Use::Mosaic).is_ok());
        assert!(
            g.admit("dynamodb:///mosaics-other:landsat", Use::Mosaic)
                .is_err()
        );
        assert_eq!(
            g.admit("sqlite:////data/m.db:one", Use::Mosaic).unwrap(),
            "sqlite:////data/m.db:one"
        );
        assert!(g.admit("sqlite:////data/m.dbx:one", Use::Mosaic).is_err());
        assert!(g.admit("dynamodb:///mosaics:landsat", Use::Asset).is_err());
    }

    #[test]
    fn prefixes_traversal_and_metadata() {
        let g = gate("/data/demo, s3://bucket/mosaics/, https://cdn.example.com/cogs/");
        let ok = |l: &str| g.admit(l, Use::Asset).is_ok();
        assert!(ok("/data/demo/m.json"));
        assert!(ok("file:///data/demo/sub/m.json"));
        assert!(!ok("/data/demo-evil/m.json"));
        assert!(!ok("/data/demo/../secret.json"));
        assert!(!ok("/data/demo/../../../../../etc/passwd"));
        assert!(!ok("/data/demo/../outside/evil://host/secret.tif"));
        assert!(ok("s3://bucket/mosaics/a.json.gz"));
        assert!(!ok("s3://bucket/mosaics/../private/a.json"));
        assert!(!ok("s3://other/mosaics/a.json"));
        assert!(ok("https://cdn.example.com/cogs/a.tif"));
        assert!(ok("https://CDN.example.com./cogs/a.tif"));
        assert!(!ok("https://cdn.example.com/cogs/%2e%2e/private/a.tif"));
        assert!(!ok("https://cdn.example.com/cogs/../private/a.tif"));
        assert!(!ok("https://user@cdn.example.com/cogs/a.tif"));
        assert!(gate("").admit("/data/demo/m.json", Use::Asset).is_err());
    }

    #[test]
    fn file_urls_with_a_host_are_refused() {
        let g = gate("*");
        assert!(g.admit("file://x/etc/passwd", Use::Mosaic).is_err());
        assert!(g.admit("file://x/dev/zero", Use::Mosaic).is_err());
        assert_eq!(
            g.admit("file://localhost/tmp", Use::Mosaic).unwrap(),
            real_path(Path::new("/tmp")).unwrap().to_string_lossy()
        );
    }

    #[test]
    fn every_spelling_of_the_metadata_address_is_refused() {
        let g = gate("*");
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://2852039166/",
            "http://0xa9fea9fe/",
            "http://0251.0376.0251.0376/",
            "http://[::ffff:169.254.169.254]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://user@169.254.169.254/",
            "http://metadata.google.internal./",
            "http://169.254.169.254../latest/meta-data/",
            "http://0%2e%2e/",
            "http://metadata.google.internal.../",
            "http://METADATA.google.internal/x",
            "http://[fd00:ec2::254]/",
            "http://[fe80::1]/",
            "http://0.0.0.0/",
            "http://[::]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "stac+http://169.254.169.254/search",
        ] {
            assert!(g.admit(url, Use::Mosaic).is_err(), "{url}");
        }
        assert!(g.admit("https://example.com/a.tif", Use::Asset).is_ok());
    }

    #[test]
    fn an_endpoint_entry_allows_its_stac_searches() {
        let g = gate("http://127.0.0.1:9/");
        assert_eq!(
            g.admit("stac+http://127.0.0.1:9/search", Use::Mosaic)
                .unwrap(),
            "stac+http://127.0.0.1:9/search"
        );
        assert!(
            g.admit("stac+http://127.0.0.1:10/search", Use::Mosaic)
                .is_err()
        );
        assert!(
            g.admit("stac+http://127.0.0.1:9/search", Use::Asset)
                .is_err()
        );
        let only_stac = gate("stac+https://stac.example.com/api/");
        assert!(
            only_stac
                .admit("stac+https://stac.example.com/api/search", Use::Mosaic)
                .is_ok()
        );
        // The search entry does not open the host's files to GDAL.
        assert!(
            only_stac
                .admit("https://stac.example.com/api/a.tif", Use::Asset)
                .is_err()
        );
        assert!(
            only_stac
                .admit("stac+https://stac.example.com/other/search", Use::Mosaic)
                .is_err()
        );
    }

    #[test]
    fn loopback_only_when_named() {
        assert!(
            gate("*")
                .admit("http://127.0.0.1:9/a.tif", Use::Asset)
                .is_err()
        );
        assert!(
            gate("*")
                .admit("http://localhost:9/a.tif", Use::Asset)
                .is_err()
        );
        assert!(
            gate("*")
                .admit("http://2130706433:9/a.tif", Use::Asset)
                .is_err()
        );
        let named = gate("http://127.0.0.1:9/");
        assert!(named.admit("http://127.0.0.1:9/a.tif", Use::Asset).is_ok());
        assert!(
            named
                .admit("http://127.0.0.1:10/a.tif", Use::Asset)
                .is_err()
        );
        assert!(named.may_connect("127.0.0.1:9", "127.0.0.1".parse().unwrap()));
        assert!(!named.may_connect("evil.example:9", "127.0.0.1".parse().unwrap()));
        assert!(!named.may_connect("127.0.0.1:9", "169.254.169.254".parse().unwrap()));
        let mut open = gate("*");
        open.allow_private_networks = true;
        assert!(open.admit("http://127.0.0.1:9/a.tif", Use::Asset).is_ok());
        assert!(open.admit("http://169.254.169.254/", Use::Asset).is_err());
    }

    #[test]
    fn gdal_syntax_is_refused_in_assets() {
        let g = gate("*");
        for bad in [
            "GTIFF_DIR:1:/outside/secret.tif",
            "MEM:::DATAPOINTER=0x10,PIXELS=1024,LINES=1024,BANDS=3,DATATYPE=Byte",
            "<VRTDataset rasterXSize=\"1\"/>",
            "  <VRTDataset/>",
            "/vsicurl/http://127.0.0.1:1/x.tif",
            "/VSIMEM/x.tif",
            "HDF5:\"a.h5\"://x",
            "a.tif\0b",
            "a\ntif",
            "ftp://host/a.tif",
        ] {
            assert!(g.admit(bad, Use::Asset).is_err(), "{bad}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_resolved_before_the_check() {
        let root = tempfile::tempdir().unwrap();
        let allowed = root.path().join("allowed");
        let outside = root.path().join("outside");
        std::fs::create_dir_all(&allowed).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.tif"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.join("secret.tif"), allowed.join("link.tif")).unwrap();
        std::os::unix::fs::symlink(&outside, allowed.join("dir")).unwrap();
        std::fs::write(allowed.join("real.tif"), b"x").unwrap();
        let g = gate(&allowed.to_string_lossy());
        assert!(
            g.admit(&allowed.join("real.tif").to_string_lossy(), Use::Asset)
                .is_ok()
        );
        assert!(
            g.admit(&allowed.join("link.tif").to_string_lossy(), Use::Asset)
                .is_err()
        );
        assert!(
            g.admit(
                &allowed.join("dir/secret.tif").to_string_lossy(),
                Use::Asset
            )
            .is_err()
        );
        assert!(
            g.admit(
                &allowed.join("dir/missing.tif").to_string_lossy(),
                Use::Asset
            )
            .is_err()
        );
        // A missing file under an allowed directory is admitted (the read then says not found).
        assert!(
            g.admit(&allowed.join("new.tif").to_string_lossy(), Use::Asset)
                .is_ok()
        );
    }
}
