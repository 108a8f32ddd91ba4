//! Logging setup shared by the `mosaic` CLI and every function binary.

use std::io::IsTerminal;

/// Logs to stderr at `RUST_LOG`'s levels, else at `default_level` (`error`, `warn`,
/// `info`…). Call once, at start-up.
///
/// One JSON object per line inside AWS Lambda (`AWS_LAMBDA_FUNCTION_NAME` set, so CloudWatch
/// Logs Insights reads the fields) or with `MOSAIC_LOG_FORMAT=json`; otherwise text, with
/// colours only when stderr is a terminal.
pub fn init(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let json = std::env::var("MOSAIC_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"))
        || std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_target(false);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}
