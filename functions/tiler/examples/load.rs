//! Bounded HTTP load on loopback: `--connections` clients (one keep-alive connection each)
//! request a list of paths in turn for `--duration` seconds against a base URL on
//! 127.0.0.0/8 or [::1], then print requests, requests/s, status counts and latency
//! percentiles. Exits 1 when any answer was a 5xx other than 503 or a request failed
//! (connection error, timeout); 503 is the server shedding load, counted apart.
//!
//! ```text
//! cargo run --release -p tiler --example load -- \
//!     --base http://127.0.0.1:8080 --urls tiles.txt [--connections 32] [--duration 60] \
//!     [--timeout 30] [--json summary.json] [--label text]
//! ```
//!
//! `tiles.txt`: one path (`/mosaicjson/tiles/...`) or full loopback URL a line; `#` comments
//! and blank lines are skipped.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Upper bounds of the settings: the load stays bounded whatever is asked.
const MAX_CONNECTIONS: usize = 256;
const MAX_DURATION_S: f64 = 600.0;

#[derive(Debug)]
struct Args {
    base: reqwest::Url,
    urls: String,
    connections: usize,
    duration: Duration,
    timeout: Duration,
    json: Option<String>,
    label: Option<String>,
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "error: {msg}\nusage: load --base http://127.0.0.1:PORT --urls FILE [--connections N<={MAX_CONNECTIONS}] \
         [--duration SECONDS<={MAX_DURATION_S}] [--timeout SECONDS] [--json FILE] [--label TEXT]"
    );
    std::process::exit(64)
}

fn loopback(url: &reqwest::Url) -> bool {
    // An IP literal only: a name could resolve anywhere.
    url.host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|h| h.parse::<IpAddr>().ok())
        .is_some_and(|ip| ip.is_loopback())
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let (mut base, mut urls, mut json, mut label) = (None, None, None, None);
    let (mut connections, mut duration, mut timeout) = (32usize, 60.0f64, 30.0f64);
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        let num = |v: String| -> f64 {
            v.parse()
                .ok()
                .filter(|n: &f64| n.is_finite() && *n > 0.0)
                .unwrap_or_else(|| usage(&format!("{a}: `{v}` is not a positive number")))
        };
        match a.as_str() {
            "--base" => base = Some(val()),
            "--urls" => urls = Some(val()),
            "--connections" | "-c" => connections = num(val()) as usize,
            "--duration" | "-d" => duration = num(val()),
            "--timeout" => timeout = num(val()),
            "--json" => json = Some(val()),
            "--label" => label = Some(val()),
            "-h" | "--help" => usage("help"),
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    let base = base.unwrap_or_else(|| usage("--base is required"));
    let base = reqwest::Url::parse(&base).unwrap_or_else(|e| usage(&format!("--base: {e}")));
    if base.scheme() != "http" || !loopback(&base) {
        usage("--base must be http:// on a loopback address (127.0.0.0/8 or [::1])");
    }
    if !(1..=MAX_CONNECTIONS).contains(&connections) {
        usage(&format!("--connections must be 1..={MAX_CONNECTIONS}"));
    }
    if duration > MAX_DURATION_S {
        usage(&format!("--duration must be at most {MAX_DURATION_S} s"));
    }
    Args {
        base,
        urls: urls.unwrap_or_else(|| usage("--urls is required")),
        connections,
        duration: Duration::from_secs_f64(duration),
        timeout: Duration::from_secs_f64(timeout.min(MAX_DURATION_S)),
        json,
        label,
    }
}

/// What one client saw.
#[derive(Debug, Default)]
struct Tally {
    /// (latency in µs, status; 0 for a failed request).
    samples: Vec<(u64, u16)>,
    first_error: Option<String>,
}

async fn client(
    targets: Arc<Vec<reqwest::Url>>,
    next: Arc<AtomicUsize>,
    deadline: Instant,
    timeout: Duration,
) -> Tally {
    let http = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .timeout(timeout)
        .build()
        .expect("HTTP client");
    let mut tally = Tally::default();
    while Instant::now() < deadline {
        let i = next.fetch_add(1, Ordering::Relaxed) % targets.len();
        let start = Instant::now();
        let result = match http.get(targets[i].clone()).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                resp.bytes().await.map(|_| status)
            }
            Err(e) => Err(e),
        };
        let micros = start.elapsed().as_micros() as u64;
        match result {
            Ok(status) => tally.samples.push((micros, status)),
            Err(e) => {
                tally.samples.push((micros, 0));
                tally.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    tally
}

/// The `q`-quantile (nearest rank) of sorted latencies, in ms.
fn quantile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

fn latency_row(name: &str, mut lat: Vec<u64>) -> (String, serde_json::Value) {
    lat.sort_unstable();
    let (p50, p90, p99) = (
        quantile(&lat, 0.5),
        quantile(&lat, 0.9),
        quantile(&lat, 0.99),
    );
    let max = lat.last().map_or(f64::NAN, |m| *m as f64 / 1000.0);
    (
        format!(
            "| {name} | {} | {p50:.1} | {p90:.1} | {p99:.1} | {max:.1} |",
            lat.len()
        ),
        serde_json::json!({"n": lat.len(), "p50_ms": p50, "p90_ms": p90, "p99_ms": p99, "max_ms": max}),
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args = parse_args();
    let text = std::fs::read_to_string(&args.urls)
        .unwrap_or_else(|e| usage(&format!("--urls {}: {e}", args.urls)));
    let mut targets = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let url = args
            .base
            .join(line)
            .unwrap_or_else(|e| usage(&format!("bad URL `{line}`: {e}")));
        if !loopback(&url) {
            usage(&format!("`{line}` is not on a loopback address"));
        }
        targets.push(url);
    }
    if targets.is_empty() {
        usage(&format!("no URLs in {}", args.urls));
    }
    let n_targets = targets.len();
    let (targets, next) = (Arc::new(targets), Arc::new(AtomicUsize::new(0)));
    let start = Instant::now();
    let deadline = start + args.duration;
    let tasks: Vec<_> = (0..args.connections)
        .map(|_| {
            tokio::spawn(client(
                targets.clone(),
                next.clone(),
                deadline,
                args.timeout,
            ))
        })
        .collect();
    let mut samples = Vec::new();
    let mut first_error = None;
    for t in tasks {
        let tally = t.await.expect("client task");
        samples.extend(tally.samples);
        if first_error.is_none() {
            first_error = tally.first_error;
        }
    }
    let wall = start.elapsed().as_secs_f64();

    let count = |f: &dyn Fn(u16) -> bool| samples.iter().filter(|(_, s)| f(*s)).count();
    let ok = count(&|s| (200..300).contains(&s) && s != 204);
    let no_content = count(&|s| s == 204);
    let not_modified = count(&|s| s == 304);
    let client_err = count(&|s| (400..500).contains(&s));
    let shed = count(&|s| s == 503);
    let server_err = count(&|s| s >= 500 && s != 503);
    let errors = count(&|s| s == 0);
    let other =
        samples.len() - ok - no_content - not_modified - client_err - shed - server_err - errors;
    let rps = samples.len() as f64 / wall;

    let label = args.label.as_deref().unwrap_or("load");
    println!(
        "\n{label}: {} connections, {:.0} s, {n_targets} URLs, {}\n",
        args.connections,
        args.duration.as_secs_f64(),
        args.base
    );
    println!(
        "| requests | req/s | 2xx (not 204) | 204 | 304 | 4xx | 503 | other 5xx | failed | other |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {rps:.1} | {ok} | {no_content} | {not_modified} | {client_err} | {shed} | {server_err} | {errors} | {other} |",
        samples.len()
    );
    println!("\n| latency, ms | n | p50 | p90 | p99 | max |");
    println!("|---|---:|---:|---:|---:|---:|");
    let all: Vec<u64> = samples.iter().map(|(l, _)| *l).collect();
    let served: Vec<u64> = samples
        .iter()
        .filter(|(_, s)| *s != 503 && *s != 0)
        .map(|(l, _)| *l)
        .collect();
    let shed_lat: Vec<u64> = samples
        .iter()
        .filter(|(_, s)| *s == 503)
        .map(|(l, _)| *l)
        .collect();
    let mut lat_json = serde_json::Map::new();
    for (name, key, lat) in [
        ("all", "all", all),
        ("served (not 503)", "served", served),
        ("shed (503)", "shed", shed_lat),
    ] {
        if lat.is_empty() && key == "shed" {
            continue;
        }
        let (row, json) = latency_row(name, lat);
        println!("{row}");
        lat_json.insert(key.into(), json);
    }
    if let Some(e) = &first_error {
        println!("\nfirst failed request: {e}");
    }
    if let Some(path) = &args.json {
        let summary = serde_json::json!({
            "label": label,
            "connections": args.connections,
            "duration_s": args.duration.as_secs_f64(),
            "wall_s": wall,
            "urls": n_targets,
            "requests": samples.len(),
            "rps": rps,
            "status": {"2xx": ok, "204": no_content, "304": not_modified, "4xx": client_err,
                       "503": shed, "other_5xx": server_err, "failed": errors, "other": other},
            "latency": lat_json,
            "first_error": first_error,
        });
        if let Err(e) = std::fs::write(path, serde_json::to_vec_pretty(&summary).unwrap()) {
            eprintln!("cannot write {path}: {e}");
            std::process::exit(74);
        }
    }
    if server_err > 0 || errors > 0 {
        eprintln!("FAIL: {server_err} answers 5xx other than 503, {errors} failed requests");
        std::process::exit(1);
    }
}
