//! The STAC API of the tests (stac-fastapi-pgstac, started by `infra/services.sh`): loading
//! the reference footprints as items, and a proxy in front of it that counts requests and
//! fails the ones a test names.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::{accessor_property, read_bytes, read_json, run_id};

/// The STAC API's base URL (`STAC_API_URL`).
pub fn api() -> String {
    std::env::var("STAC_API_URL").expect("STAC_API_URL from infra/services.sh")
}

/// POSTs `body` to `url`: status and text.
pub async fn post(url: &str, body: &Value) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

/// The reference set's footprint calls of one source (the smallest): the source, the
/// feature property holding the asset, and the calls that made a mosaic.
pub fn reference_calls() -> (String, String, Vec<Value>) {
    let calls = read_json("mosaics/calls_footprints.json");
    let entries = calls["mosaics"].as_array().expect("mosaics");
    let source = entries
        .iter()
        .filter_map(|e| e["source"].as_str())
        .min_by_key(|s| read_bytes(s).len())
        .expect("a source")
        .to_string();
    let prop = accessor_property(
        entries
            .iter()
            .find(|e| e["source"] == source.as_str())
            .and_then(|e| e["accessor"].as_str()),
    );
    let used: Vec<Value> = entries
        .iter()
        .filter(|e| e["source"] == source.as_str() && e["mosaic"].is_string())
        .cloned()
        .collect();
    (source, prop, used)
}

/// Loads the features of the GeoJSON file `source` into a fresh collection, one item each,
/// in file order (`datetime` increasing, so sorting on it gives the file order back); each
/// item's asset `data` is `href_prefix` + the feature's `prop`. Returns the collection's
/// search query (sorted by `datetime`, no `limit`) and the number of items.
pub async fn load_collection(source: &str, prop: &str, href_prefix: &str) -> (Value, usize) {
    let collection = format!("fp-{}", run_id());
    let (status, text) = post(
        &format!("{}/collections", api()),
        &json!({"type": "Collection", "stac_version": "1.0.0", "id": collection,
                "description": "reference footprints", "license": "proprietary",
                "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                           "temporal": {"interval": [["2000-01-01T00:00:00Z", null]]}},
                "links": []}),
    )
    .await;
    assert!(status < 300, "create collection: {status} {text}");
    let fc: Value = serde_json::from_slice(&read_bytes(source)).expect("GeoJSON");
    let features = fc["features"].as_array().expect("features");
    let items: Vec<Value> = features
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let ring = f["geometry"]["coordinates"][0].as_array().expect("ring");
            let (xs, ys): (Vec<f64>, Vec<f64>) = ring
                .iter()
                .map(|p| (p[0].as_f64().expect("x"), p[1].as_f64().expect("y")))
                .unzip();
            let fold = |v: &[f64], f: fn(f64, f64) -> f64| v.iter().copied().reduce(f).expect("coords");
            let href = format!("{href_prefix}{}", f["properties"][prop].as_str().expect("asset property"));
            json!({"type": "Feature", "stac_version": "1.0.0",
                   "id": format!("{i:05}-{}", f["id"].as_str().unwrap_or("item")),
                   "collection": collection, "geometry": f["geometry"],
                   "bbox": [fold(&xs, f64::min), fold(&ys, f64::min), fold(&xs, f64::max), fold(&ys, f64::max)],
                   "properties": {"datetime": format!("2024-01-01T{:02}:{:02}:{:02}Z", i / 3600, i / 60 % 60, i % 60)},
                   "assets": {"data": {"href": href}},
                   "links": []})
        })
        .collect();
    let (status, text) = post(
        &format!("{}/collections/{collection}/items", api()),
        &json!({"type": "FeatureCollection", "features": items}),
    )
    .await;
    assert!(status < 300, "load items: {status} {text}");
    (
        json!({"collections": [collection],
               "sortby": [{"field": "properties.datetime", "direction": "asc"}]}),
        features.len(),
    )
}

/// A proxy on 127.0.0.1 in front of a STAC API: counts the requests that reach it and answers
/// 500 to those a test names. The `Host` it forwards is its own, so the API's `next` links
/// come back through it.
#[derive(Debug, Clone)]
pub struct StacProxy {
    /// `http://127.0.0.1:PORT` (the API's base URL through the proxy).
    pub base: String,
    hits: Arc<AtomicUsize>,
    failing: Arc<Mutex<HashSet<usize>>>,
}

impl StacProxy {
    /// A proxy in front of `upstream` (`http://host:port`), serving until the process ends.
    pub fn start(upstream: &str) -> StacProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let proxy = StacProxy {
            base: format!("http://{addr}"),
            hits: Arc::default(),
            failing: Arc::default(),
        };
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let p = proxy.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (p, upstream) = (p.clone(), upstream.clone());
                std::thread::spawn(move || {
                    let _ = p.serve(stream, &upstream, &addr.to_string());
                });
            }
        });
        proxy
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The `n`-th request from now (1-based) answers 500.
    pub fn fail_request(&self, n: usize) {
        let at = self.hits() + n;
        self.failing.lock().expect("lock").insert(at);
    }

    /// One request: read whole, answered 500 if named, else sent upstream with
    /// `Connection: close` and the answer copied back.
    fn serve(&self, stream: TcpStream, upstream: &str, own: &str) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut client = stream;
        let mut request_line = String::new();
        reader.read_line(&mut request_line)?;
        let mut headers = Vec::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 || line == "\r\n" {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("host:") || lower.starts_with("connection:") {
                continue;
            }
            headers.push(line);
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let n = self.hits.fetch_add(1, Ordering::SeqCst) + 1;
        if self.failing.lock().expect("lock").remove(&n) {
            let text =
                br#"{"code":"InternalServerError","description":"injected by the test proxy"}"#;
            write!(
                client,
                "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                text.len()
            )?;
            return client.write_all(text);
        }
        let mut up = TcpStream::connect(upstream)?;
        let mut head = request_line;
        head.push_str(&format!("Host: {own}\r\nConnection: close\r\n"));
        for h in headers {
            head.push_str(&h);
        }
        head.push_str("\r\n");
        up.write_all(head.as_bytes())?;
        up.write_all(&body)?;
        // The answer's head with `Connection: close` (the client must not reuse this
        // connection: it ends here), then the body as it comes.
        let mut answer = BufReader::new(up);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if answer.read_line(&mut line)? == 0 || line == "\r\n" {
                break;
            }
            if !line.to_ascii_lowercase().starts_with("connection:") {
                head.push_str(&line);
            }
        }
        head.push_str("Connection: close\r\n\r\n");
        client.write_all(head.as_bytes())?;
        std::io::copy(&mut answer, &mut client)?;
        Ok(())
    }
}
