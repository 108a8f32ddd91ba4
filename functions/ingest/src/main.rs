//! `ingest`: inside AWS Lambda (AWS_LAMBDA_RUNTIME_API set) it handles S3, SQS and
//! EventBridge invocations; elsewhere it applies one event read from a file or stdin and
//! prints the answer, with the same configuration (`MOSAIC_URI`, …).
//!
//! ```text
//! MOSAIC_URI=dynamodb:///mosaics:cogs ingest event.json
//! MOSAIC_URI=sqlite:///index.db:cogs ingest < event.json
//! ```

use std::sync::Arc;

use ingest::{Config, Ingest};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use mosaic::backend::Backends;
use serde_json::Value;

#[tokio::main]
async fn main() {
    mosaic::logging::init("info");
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
    // Stores and the DynamoDB client: built once per process.
    let backends = Backends::from_env();
    let ingest = Arc::new(Ingest::new(Config::from_env()?, &backends)?);
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
            let ingest = ingest.clone();
            async move {
                ingest.handle(event.payload).await.map_err(|e| Diagnostic {
                    // `Retryable.Storage`, `Permanent.InvalidInput`…
                    error_type: e.lambda_error_type(),
                    error_message: e.to_string(),
                })
            }
        }))
        .await;
    }
    let path = std::env::args().nth(1).unwrap_or_else(|| "-".into());
    let event = mosaic::input::read_json(&path)?;
    println!("{}", ingest.handle(event).await?);
    Ok(())
}
