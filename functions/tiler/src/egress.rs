//! The egress gate: a forward HTTP proxy on 127.0.0.1 that every outgoing HTTP(S) request
//! of the tiler goes through — GDAL's (`GDAL_HTTP_PROXY`) and the mosaic readers'
//! (object_store's `proxy_url`). It exists because the checks on a URL before it is opened
//! cannot see what happens after: a redirect to another host, a name that resolves to a
//! metadata or loopback address. The proxy sees every hop:
//!
//! - `GET http://host:port/path` (plain HTTP, absolute form): the whole URL must pass
//!   [`Gate::admit`] or name a configured cloud endpoint;
//! - `CONNECT host:port` (HTTPS): the authority must be one an allowlist entry names, or a
//!   cloud endpoint of a scheme the allowlist uses, or anything under `*`;
//! - then the name is resolved, **every** address checked ([`Gate::may_connect`]: never
//!   link-local or metadata, loopback/private only for named hosts), and the connection is
//!   made to the address that was checked, so a second resolution cannot answer otherwise.
//!
//! Redirects come back to the client (curl, reqwest) as they are; the next hop is a new
//! request through the proxy and is checked the same way. Refusals answer 403.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use mosaic::gate::{Gate, Use};
use tokio::net::{TcpListener, TcpStream};

type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// How long the proxy waits for an upstream's response headers (GDAL's own
/// `GDAL_HTTP_TIMEOUT` normally gives up first).
const UPSTREAM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Hosts the operator configured for the cloud stores (not from requests): reachable when
/// the allowlist uses that store's scheme.
#[derive(Debug, Clone, Default)]
pub struct CloudEndpoints {
    /// `(scheme, host suffix or exact host, port, set by the operator)`: `.amazonaws.com`
    /// matches any subdomain.
    endpoints: Vec<(&'static str, String, u16, bool)>,
}

fn authority_of(url: &str) -> Option<(String, u16)> {
    let with_scheme = if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    };
    let u = url::Url::parse(&with_scheme).ok()?;
    Some((
        u.host_str()?.trim_end_matches('.').to_ascii_lowercase(),
        u.port_or_known_default()?,
    ))
}

impl CloudEndpoints {
    /// The public endpoints of S3, GCS and Azure Blob, plus the overrides in the standard
    /// variables (`AWS_ENDPOINT_URL(_S3)`, `AWS_S3_ENDPOINT`, `CPL_GS_ENDPOINT`,
    /// `AZURITE_BLOB_STORAGE_URL`, `AZURE_STORAGE_CONNECTION_STRING`'s `BlobEndpoint`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> CloudEndpoints {
        let mut endpoints: Vec<_> = [
            ("s3", ".amazonaws.com", 443),
            ("gs", "storage.googleapis.com", 443),
            ("gs", "oauth2.googleapis.com", 443),
            ("az", ".blob.core.windows.net", 443),
            ("az", "login.microsoftonline.com", 443),
        ]
        .into_iter()
        .map(|(s, h, p)| (s, h.to_string(), p, false))
        .collect();
        for (scheme, key) in [
            ("s3", "AWS_ENDPOINT_URL_S3"),
            ("s3", "AWS_ENDPOINT_URL"),
            ("s3", "AWS_S3_ENDPOINT"),
            ("gs", "CPL_GS_ENDPOINT"),
            ("az", "AZURITE_BLOB_STORAGE_URL"),
        ] {
            let Some(value) = get(key) else { continue };
            if let Some((h, p)) = authority_of(&value) {
                // GDAL's `AWS_S3_ENDPOINT` is `host[:port]`, HTTPS unless `AWS_HTTPS=NO`.
                let bare = !value.contains("://") && !value.contains(':');
                if bare {
                    endpoints.push((scheme, h.clone(), 443, true));
                }
                endpoints.push((scheme, h, p, true));
            }
        }
        if let Some(cs) = get("AZURE_STORAGE_CONNECTION_STRING") {
            for kv in cs.split(';') {
                if let Some(("BlobEndpoint", v)) = kv.split_once('=')
                    && let Some((h, p)) = authority_of(v.trim())
                {
                    endpoints.push(("az", h, p, true));
                }
            }
        }
        CloudEndpoints { endpoints }
    }

    fn allows(&self, gate: &Gate, host: &str, port: u16) -> bool {
        self.endpoints.iter().any(|(scheme, h, p, _)| {
            *p == port
                && gate.allow.has_scheme(scheme)
                && (host == h || (h.starts_with('.') && host.ends_with(h.as_str())))
        })
    }

    /// True for an operator-configured endpoint (not a public cloud suffix): its private
    /// address is intended.
    fn configured(&self, host: &str, port: u16) -> bool {
        self.endpoints
            .iter()
            .any(|(_, h, p, configured)| *configured && h == host && *p == port)
    }
}

/// What the proxy checks against.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The allowlist and network policy.
    pub gate: Gate,
    /// Cloud store endpoints.
    pub cloud: CloudEndpoints,
}

/// A running egress proxy.
#[derive(Debug)]
pub struct Egress {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Egress {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:PORT` (GDAL's `GDAL_HTTP_PROXY` form).
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Egress {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the proxy on an ephemeral loopback port.
pub async fn start(policy: Policy) -> std::io::Result<Egress> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let policy = Arc::new(policy);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of descriptors, say: back off instead of spinning.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            };
            let policy = policy.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let policy = policy.clone();
                    async move { Ok::<_, Infallible>(handle(&policy, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .preserve_header_case(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    Ok(Egress { addr, task })
}

/// Starts the proxy for `config` and points GDAL (`GDAL_HTTP_PROXY`) and the mosaic
/// readers (`config.http_proxy`) at it. `get` reads the environment: `MOSAIC_EGRESS_PROXY`
/// = `false` leaves egress unchecked (a warning says so); an operator's own
/// `GDAL_HTTP_PROXY` is kept for GDAL, with a warning that GDAL then bypasses the gate.
pub async fn install(
    config: &mut crate::Config,
    get: impl Fn(&str) -> Option<String>,
) -> std::io::Result<Option<Egress>> {
    if get("MOSAIC_EGRESS_PROXY")
        .and_then(|v| mosaic::cache::parse_bool(&v))
        .is_some_and(|on| !on)
    {
        tracing::warn!(
            "MOSAIC_EGRESS_PROXY=false: redirects and resolved addresses are not checked"
        );
        return Ok(None);
    }
    let egress = start(Policy {
        gate: config.gate.clone(),
        cloud: CloudEndpoints::from_lookup(&get),
    })
    .await?;
    if get("GDAL_HTTP_PROXY").is_some() {
        tracing::warn!("GDAL_HTTP_PROXY is set: GDAL's requests bypass the egress gate");
    } else {
        let _ = gdal::config::set_config_option("GDAL_HTTP_PROXY", &egress.authority());
    }
    config.http_proxy = Some(egress.url());
    Ok(Some(egress))
}

fn text(status: StatusCode, message: String) -> Response<ProxyBody> {
    tracing::warn!("egress refused: {message}");
    let mut r = Response::new(
        Full::new(Bytes::from(message))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r
}

/// Resolves `host:port` and returns an address every resolved address of which may be
/// reached; `Err` says why not.
async fn resolve_checked(
    policy: &Policy,
    host: &str,
    port: u16,
    operator_endpoint: bool,
) -> Result<SocketAddr, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|e| format!("{host}: {e}"))?
        .collect();
    let host_port = if port == 80 || port == 443 {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    let mut first = None;
    for a in &addrs {
        let ok = match mosaic::gate::classify_ip(a.ip()) {
            mosaic::gate::HostClass::Blocked => false,
            _ if operator_endpoint => true,
            _ => {
                policy.gate.may_connect(&host_port, a.ip())
                    || policy.gate.may_connect(&format!("{host}:{port}"), a.ip())
            }
        };
        if !ok {
            return Err(format!(
                "{host}:{port} resolves to {} (not allowed)",
                a.ip()
            ));
        }
        first.get_or_insert(*a);
    }
    first.ok_or_else(|| format!("{host}: no address"))
}

/// May a tunnel be opened to `host:port`?
fn tunnel_allowed(policy: &Policy, host: &str, port: u16) -> bool {
    if policy.gate.allow.allows_any() || policy.cloud.allows(&policy.gate, host, port) {
        return true;
    }
    policy
        .gate
        .allow
        .entries()
        .iter()
        .filter_map(|e| e.strip_prefix("https://"))
        .filter_map(|rest| authority_of(&format!("https://{rest}")))
        .any(|(h, p)| h == host && p == port)
}

async fn handle(policy: &Policy, req: Request<Incoming>) -> Response<ProxyBody> {
    if req.method() == Method::CONNECT {
        return connect(policy, req).await;
    }
    forward(policy, req).await
}

async fn connect(policy: &Policy, req: Request<Incoming>) -> Response<ProxyBody> {
    let Some(auth) = req.uri().authority().cloned() else {
        return text(StatusCode::BAD_REQUEST, "CONNECT needs host:port".into());
    };
    let Some((host, port)) = authority_of(auth.as_str()) else {
        return text(StatusCode::BAD_REQUEST, format!("bad authority {auth}"));
    };
    if !tunnel_allowed(policy, &host, port) {
        return text(
            StatusCode::FORBIDDEN,
            format!("{host}:{port} is not in MOSAIC_ALLOWED_URLS"),
        );
    }
    let configured = policy.cloud.configured(&host, port);
    let addr = match resolve_checked(policy, &host, port, configured).await {
        Ok(a) => a,
        Err(m) => return text(StatusCode::FORBIDDEN, m),
    };
    let upstream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return text(StatusCode::BAD_GATEWAY, format!("{host}:{port}: {e}")),
    };
    tokio::spawn(async move {
        if let Ok(upgraded) = hyper::upgrade::on(req).await {
            let mut client = TokioIo::new(upgraded);
            let mut upstream = upstream;
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
    });
    Response::new(
        Full::new(Bytes::new())
            .map_err(|never| match never {})
            .boxed(),
    )
}

async fn forward(policy: &Policy, mut req: Request<Incoming>) -> Response<ProxyBody> {
    let url = req.uri().to_string();
    let Some((host, port)) = req
        .uri()
        .host()
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        .zip(req.uri().port_u16().or(Some(80)))
    else {
        return text(
            StatusCode::BAD_REQUEST,
            format!("not a proxy request: {url}"),
        );
    };
    let cloud = policy.cloud.allows(&policy.gate, &host, port);
    // A STAC search's pages (its next links) are plain requests to the endpoint a
    // `stac+http://` allowlist entry names.
    if !cloud
        && let Err(e) = policy.gate.admit(&url, Use::Mosaic)
        && policy
            .gate
            .admit(&format!("stac+{url}"), Use::Mosaic)
            .is_err()
    {
        return text(StatusCode::FORBIDDEN, e.to_string());
    }
    let configured = policy.cloud.configured(&host, port);
    let addr = match resolve_checked(policy, &host, port, configured).await {
        Ok(a) => a,
        Err(m) => return text(StatusCode::FORBIDDEN, m),
    };
    let stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return text(StatusCode::BAD_GATEWAY, format!("{host}:{port}: {e}")),
    };
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    {
        Ok(x) => x,
        Err(e) => return text(StatusCode::BAD_GATEWAY, format!("{host}:{port}: {e}")),
    };
    tokio::spawn(conn);
    // Origin form upstream; hop-by-hop headers stay here.
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    if let Ok(p) = path.parse() {
        *req.uri_mut() = p;
    }
    for h in [
        "proxy-connection",
        "proxy-authorization",
        "connection",
        "upgrade",
        "te",
    ] {
        req.headers_mut().remove(h);
    }
    // An upstream that never answers does not hold the proxy task forever.
    match tokio::time::timeout(UPSTREAM_TIMEOUT, sender.send_request(req)).await {
        Ok(Ok(resp)) => resp.map(|b| b.boxed()),
        Ok(Err(e)) => text(StatusCode::BAD_GATEWAY, format!("{host}:{port}: {e}")),
        Err(_) => text(
            StatusCode::GATEWAY_TIMEOUT,
            format!("{host}:{port}: no answer in {UPSTREAM_TIMEOUT:?}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_endpoints_need_their_scheme_in_the_allowlist() {
        let cloud = CloudEndpoints::from_lookup(|k| {
            (k == "AWS_ENDPOINT_URL").then(|| "http://127.0.0.1:4566".to_string())
        });
        let s3 = Gate::new(mosaic::gate::AllowList::parse("s3://bucket/"));
        let http = Gate::new(mosaic::gate::AllowList::parse("https://cdn.example.com/"));
        assert!(cloud.allows(&s3, "bucket.s3.eu-west-1.amazonaws.com", 443));
        assert!(cloud.allows(&s3, "127.0.0.1", 4566));
        assert!(cloud.configured("127.0.0.1", 4566));
        assert!(!cloud.configured("s3.amazonaws.com", 443));
        assert!(!cloud.allows(&http, "bucket.s3.amazonaws.com", 443));
        assert!(!cloud.allows(&s3, "evilamazonaws.com", 443));
        let policy = Policy { gate: http, cloud };
        assert!(tunnel_allowed(&policy, "cdn.example.com", 443));
        assert!(!tunnel_allowed(&policy, "cdn.example.com", 8443));
        assert!(!tunnel_allowed(&policy, "other.example.com", 443));
    }
}
