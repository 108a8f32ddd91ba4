//! `ingest`: inside AWS Lambda (AWS_LAMBDA_RUNTIME_API set) it handles S3, SQS and
//! EventBridge invocations; elsewhere it applies one event read from a file or stdin and
//! prints the answer, with the same configuration (`MOSAIC_URI`, …).
//!
//! ```text
//! MOSAIC_URI=dynamodb:///mosaics:cogs ingest event.json
//! MOSAIC_URI=sqlite:///index.db:cogs ingest < event.json
//! ```

use std::io::Read;
use std::sync::Arc;

use ingest::{Config, Ingest};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .init();
    let code = match run().await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {e}");
            e.downcast_ref::<mosaic::Error>()
                .map_or(1, mosaic::Error::exit_code)
        }
    };
    std::process::exit(code);
}

async fn run() -> Result<(), lambda_runtime::Error> {
    let ingest = Arc::new(Ingest::new(Config::from_env()?)?);
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
            let ingest = ingest.clone();
            async move {
                ingest.handle(event.payload).await.map_err(|e| Diagnostic {
                    error_type: "mosaic::Error".into(),
                    error_message: e.to_string(),
                })
            }
        }))
        .await;
    }
    let mut text = String::new();
    match std::env::args().nth(1).filter(|a| a != "-") {
        Some(path) => {
            text = std::fs::read_to_string(&path).map_err(|e| mosaic::Error::Io {
                path: path.clone().into(),
                source: e,
            })?
        }
        None => {
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| mosaic::Error::Io {
                    path: "stdin".into(),
                    source: e,
                })?;
        }
    }
    let event: Value = serde_json::from_str(&text)
        .map_err(|e| mosaic::Error::InvalidInput(format!("the event is not JSON: {e}")))?;
    println!("{}", ingest.handle(event).await?);
    Ok(())
}
