//! Logging setup shared by the `mosaic` CLI and every function binary.

/// Logs to stderr at `RUST_LOG`'s levels, else at `default_level` (`error`, `warn`,
/// `info`…). Call once, at start-up.
pub fn init(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_target(false)
        .init();
}
