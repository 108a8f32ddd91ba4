//! Headless Chromium driven over the Chrome DevTools Protocol, so that the test waits for
//! what the page shows (a condition polled in the page) instead of a time budget: under
//! `--virtual-time-budget` the DOM was dumped before the failing tiles' answers arrived on a
//! faster machine. Only the five commands the test needs, over one WebSocket (`tungstenite`);
//! a full client crate generates the whole protocol at build time, minutes of CI for this.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use crate::common::KillOnDrop;

/// One headless Chromium with one page; killed on drop.
pub struct Browser {
    _process: KillOnDrop,
    socket: WebSocket<TcpStream>,
    session: String,
    next_id: u64,
}

fn chromium() -> String {
    let path = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&path).exists(),
        "headless Chromium not found at {path}: run `bash infra/install-deps.sh` (or set CHROMIUM)"
    );
    path
}

impl Browser {
    /// Starts Chromium (profile in `profile`, a `width`×`height` window) with one blank page.
    pub fn start(profile: &Path, (width, height): (u32, u32)) -> Self {
        let mut child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                // MapLibre draws with WebGL: Chromium's software implementation.
                "--use-angle=swiftshader",
                "--enable-unsafe-swiftshader",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        // Chromium names its DevTools endpoint on stderr: "DevTools listening on ws://…".
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let process = KillOnDrop(child);
        let mut endpoint = None;
        let mut line = String::new();
        while endpoint.is_none() && stderr.read_line(&mut line).unwrap_or(0) > 0 {
            endpoint = line
                .split_whitespace()
                .find(|w| w.starts_with("ws://"))
                .map(str::to_string);
            line.clear();
        }
        let Some(endpoint) = endpoint else {
            panic!("chromium did not announce its DevTools endpoint");
        };
        // Keep draining stderr so that Chromium never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));

        let address = endpoint
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .expect("host:port")
            .to_string();
        let stream = TcpStream::connect(&address).expect("connect to DevTools");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("read timeout");
        let (socket, _) =
            tungstenite::client(endpoint.as_str(), stream).expect("DevTools handshake");
        let mut browser = Browser {
            _process: process,
            socket,
            session: String::new(),
            next_id: 0,
        };
        let target = browser.call("Target.createTarget", json!({ "url": "about:blank" }));
        let attached = browser.call(
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        );
        browser.session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        );
        browser
    }

    /// Sends a command (to the page once attached) and returns its result; events between
    /// are skipped. A protocol error fails the test.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .expect("send to DevTools");
        loop {
            let reply = self.socket.read().expect("DevTools reply");
            let Message::Text(text) = reply else { continue };
            let reply: Value = serde_json::from_str(&text).expect("DevTools JSON");
            if reply["id"] == json!(id) {
                assert!(reply["error"].is_null(), "{method}: {}", reply["error"]);
                return reply["result"].clone();
            }
        }
    }

    /// Opens `url` in the page.
    pub fn navigate(&mut self, url: &str) {
        let result = self.call("Page.navigate", json!({ "url": url }));
        assert!(
            result["errorText"].is_null(),
            "{url}: {}",
            result["errorText"]
        );
    }

    /// The value of a JavaScript expression evaluated in the page.
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
        );
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression}: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// Polls `expression` until it is `true` (an exception counts as not yet: the page may
    /// still be loading); fails with `what` and the page's text after `timeout`.
    pub fn wait_for(&mut self, expression: &str, timeout: Duration, what: &str) {
        let started = Instant::now();
        let guarded = format!(
            "(() => {{ try {{ return ({expression}); }} catch (e) {{ return false; }} }})()"
        );
        while self.eval(&guarded) != json!(true) {
            if started.elapsed() > timeout {
                let text = self.eval("document.body ? document.body.innerText : ''");
                let text = text.as_str().unwrap_or_default();
                panic!("{what}: not seen within {timeout:?}; the page says: {text}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A PNG of the page as it is drawn now.
    pub fn screenshot(&mut self) -> Vec<u8> {
        let result = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        base64::engine::general_purpose::STANDARD
            .decode(result["data"].as_str().expect("screenshot data"))
            .expect("base64 screenshot")
    }
}
