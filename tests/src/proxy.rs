//! A proxy on 127.0.0.1 in front of a local service (the STAC API, moto's DynamoDB): counts
//! the requests that reach it, answers the ones a test names with a failure of its choosing,
//! and can play a service that stopped (connections closed unanswered).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A canned answer: status line, content type, body.
#[derive(Debug, Clone)]
pub struct Failure {
    /// `500 Internal Server Error`, `400 Bad Request`…
    pub status: &'static str,
    /// Its content type.
    pub content_type: &'static str,
    /// Its body.
    pub body: String,
}

impl Failure {
    /// A 500 with a STAC API error body.
    pub fn server_error() -> Failure {
        Failure {
            status: "500 Internal Server Error",
            content_type: "application/json",
            body: r#"{"code":"InternalServerError","description":"injected by the test proxy"}"#
                .into(),
        }
    }

    /// DynamoDB's throttling answer.
    pub fn dynamodb_throttling() -> Failure {
        Failure {
            status: "400 Bad Request",
            content_type: "application/x-amz-json-1.0",
            body: r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput (injected by the test proxy)"}"#.into(),
        }
    }
}

/// The proxy. The `Host` it forwards is its own, so links the service builds from it (a STAC
/// API's `next` links) come back through it.
#[derive(Debug, Clone)]
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT` (the API's base URL through the proxy).
    pub base: String,
    hits: Arc<AtomicUsize>,
    failing: Arc<Mutex<HashMap<usize, Failure>>>,
    /// Requests numbered from this one on are dropped unanswered (`usize::MAX`: none).
    down_from: Arc<AtomicUsize>,
}

impl FaultProxy {
    /// A proxy in front of `upstream` (`http://host:port`), serving until the process ends.
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let proxy = FaultProxy {
            base: format!("http://{addr}"),
            hits: Arc::default(),
            failing: Arc::default(),
            down_from: Arc::new(AtomicUsize::new(usize::MAX)),
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
        self.fail_request_with(n, Failure::server_error());
    }

    /// The `n`-th request from now (1-based) gets `failure`.
    pub fn fail_request_with(&self, n: usize, failure: Failure) {
        let at = self.hits() + n;
        self.failing.lock().expect("lock").insert(at, failure);
    }

    /// After `n` more requests, the service "stops": connections are closed unanswered.
    pub fn stop_after(&self, n: usize) {
        self.down_from.store(self.hits() + n + 1, Ordering::SeqCst);
    }

    /// The service answers again.
    pub fn restart(&self) {
        self.down_from.store(usize::MAX, Ordering::SeqCst);
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
        if n >= self.down_from.load(Ordering::SeqCst) {
            // Stopped: the connection ends without an answer.
            return Ok(());
        }
        let failure = self.failing.lock().expect("lock").remove(&n);
        if let Some(f) = failure {
            write!(
                client,
                "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                f.status,
                f.content_type,
                f.body.len()
            )?;
            return client.write_all(f.body.as_bytes());
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
