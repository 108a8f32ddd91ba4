//! Shared fixtures: a copy of a reference COG mosaic with absolute asset paths in a temp
//! directory, and a router allowed to read exactly that directory and the COGs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use http_body_util::BodyExt;
use tiler::{AllowList, AppState, Config, app};
use tower::ServiceExt;

/// A child process (a test's server, a browser) killed and reaped when dropped, so that it
/// never outlives its test, even one that fails.
#[derive(Debug)]
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn refdata() -> PathBuf {
    std::env::var_os("MOSAIC_REFDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/refdata/public")
        })
}

#[derive(Debug)]
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub mosaic: String,
    pub router: Router,
    pub state: AppState,
    pub render: serde_json::Value,
}

/// The first `first` render of `group`'s reference mosaic, served from a temp copy.
pub fn fixture(dtype: &str) -> Fixture {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(refdata().join("renders/manifest.json")).unwrap())
            .unwrap();
    let render = manifest["renders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["dtype"] == dtype && r["pixel_selection"] == "first" && r["indexes"].is_null())
        .unwrap()
        .clone();
    let mut doc = mosaic::MosaicJson::from_slice(
        &std::fs::read(refdata().join(render["mosaic"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let set = std::fs::canonicalize(refdata()).unwrap();
    doc.asset_prefix = Some(format!("{}/", set.display()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mosaic.json");
    std::fs::write(&path, doc.to_json_vec()).unwrap();
    let allowed = AllowList::of(&[
        dir.path().to_string_lossy().into_owned(),
        set.join("cogs").to_string_lossy().into_owned(),
    ]);
    let mut config = Config::new(allowed);
    config.url_template = Some(format!("{}/{{id}}.json", dir.path().display()));
    let state = AppState::new(config);
    let router = app(state.clone());
    Fixture {
        mosaic: path.to_string_lossy().into_owned(),
        dir,
        router,
        state,
        render,
    }
}

pub fn q(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub async fn get(router: &Router, uri: &str) -> (Response<Body>, Vec<u8>) {
    send(
        router,
        Request::get(uri)
            .header("host", "tiler.test")
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

pub async fn send(router: &Router, req: Request<Body>) -> (Response<Body>, Vec<u8>) {
    let resp = router.clone().oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (Response::from_parts(parts, Body::empty()), bytes)
}
