//! `stac-mosaic`: inside AWS Lambda (AWS_LAMBDA_RUNTIME_API set) each invocation is one
//! mosaic request; elsewhere it runs the request read from a file or stdin and prints the
//! answer.
//!
//! ```text
//! stac-mosaic request.json
//! ```

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use mosaic::backend::Backends;
use serde_json::Value;

#[tokio::main]
async fn main() {
    mosaic::logging::init("info");
    // Stores, the DynamoDB client and the STAC HTTP client: built once per process.
    let backends = Backends::from_env();
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        let backends = &backends;
        let served = lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
            stac_mosaic::handle(backends, event.payload)
                .await
                .map_err(|e| Diagnostic {
                    // `Retryable.Storage`, `Permanent.InvalidInput`…
                    error_type: e.lambda_error_type(),
                    error_message: e.to_string(),
                })
        }))
        .await;
        if let Err(e) = served {
            eprintln!("Error: {e}");
            std::process::exit(1);
        }
        return;
    }
    let path = std::env::args().nth(1).unwrap_or_else(|| "-".into());
    let answer = match mosaic::input::read_json(&path) {
        Ok(request) => stac_mosaic::handle(&backends, request).await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(a) => println!("{a}"),
        Err(e) => {
            eprintln!("Error: {e}");
            std::process::exit(e.exit_code());
        }
    }
}
