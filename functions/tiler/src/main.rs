//! `tiler`: inside AWS Lambda (AWS_LAMBDA_RUNTIME_API set) it serves API Gateway events
//! through `lambda_http`; elsewhere it listens on 127.0.0.1:$PORT (default 8080).
//!
//! ```text
//! tiler                 # generate/serve the demo mosaic, print the viewer URL
//! tiler MOSAIC_URI      # print the viewer URL of another mosaic (within MOSAIC_ALLOWED_URLS)
//! ```

use tiler::{AppState, Config, app, demo};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    mosaic::logging::init("info");
    // Warm GDAL and PROJ (driver registry, proj.db, lazy symbol binding) while the server
    // starts, so the first tile does not pay for it alone.
    std::thread::spawn(tiler::warm_up);
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        // In Lambda the allowlist comes from the stack (MOSAIC_ALLOWED_URLS); nothing by default.
        let mut config = Config::from_env(&[]);
        let _egress = tiler::egress::install(&mut config, env).await?;
        return lambda_http::run(tiler::lambda_app(AppState::new(config))).await;
    }
    let cwd = std::env::current_dir()?.to_string_lossy().into_owned();
    let demo_dir = demo::demo_dir();
    let mosaic = match std::env::args().nth(1) {
        Some(uri) => uri,
        None => tokio::task::spawn_blocking(move || demo::ensure_demo(&demo_dir))
            .await??
            .to_string_lossy()
            .into_owned(),
    };
    // Locally: the demo data and the working directory (relative asset paths resolve there).
    let mut config = Config::from_env(&[demo::demo_dir().to_string_lossy().into_owned(), cwd]);
    config.demo_mosaic = Some(mosaic.clone());
    let _egress = tiler::egress::install(&mut config, env).await?;
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("url", &mosaic)
        .finish();
    tracing::info!("listening on http://{addr} (the API and its documentation: http://{addr}/)");
    // Last, on stdout: what to open.
    println!("mosaic viewer: http://{addr}/mosaicjson/WebMercatorQuad/map.html?{query}");
    axum::serve(listener, app(AppState::new(config))).await?;
    Ok(())
}
