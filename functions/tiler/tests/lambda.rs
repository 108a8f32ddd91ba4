//! Recorded API Gateway events (REST API v1, HTTP API v2) through the Lambda handler path:
//! `lambda_http`'s adapter around the same router, as `lambda_http::run` drives it.

mod common;

use base64::Engine;
use common::fixture;
use lambda_http::request::LambdaRequest;
use lambda_http::{Context, LambdaEvent, Service};
use serde_json::Value;

async fn invoke(state: tiler::AppState, event: &str) -> Value {
    let request: LambdaRequest = serde_json::from_str(event).expect("a valid API Gateway event");
    let mut adapter = lambda_http::Adapter::from(tiler::lambda_app(state));
    let response = adapter
        .call(LambdaEvent::new(request, Context::default()))
        .await
        .expect("handler");
    serde_json::to_value(response).unwrap()
}

fn event(name: &str, tile: &Value) -> String {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/events")
            .join(name),
    )
    .unwrap();
    text.replace("{Z}", &tile["z"].to_string())
        .replace("{X}", &tile["x"].to_string())
        .replace("{Y}", &tile["y"].to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_gateway_v1_and_v2_tiles_come_back_as_base64_png() {
    let f = fixture("uint8");
    for name in ["apigw_v2_tile.json", "apigw_v1_tile.json"] {
        let resp = invoke(f.state.clone(), &event(name, &f.render["tile"])).await;
        assert_eq!(resp["statusCode"], 200, "{name}: {resp}");
        assert_eq!(resp["isBase64Encoded"], true, "{name}");
        let headers = &resp["headers"];
        let ctype = headers["content-type"]
            .as_str()
            .or_else(|| resp["multiValueHeaders"]["content-type"][0].as_str());
        assert_eq!(ctype, Some("image/png"), "{name}: {headers}");
        let body = base64::engine::general_purpose::STANDARD
            .decode(resp["body"].as_str().unwrap())
            .unwrap();
        let img = image::load_from_memory(&body).unwrap();
        assert_eq!((img.width(), img.height()), (256, 256));
        assert!(
            img.to_rgba8().pixels().any(|p| p[3] == 255),
            "{name}: some pixel is opaque"
        );
    }
    // An HTTP API stage other than `$default` prefixes the path as a REST API stage does.
    let staged = event("apigw_v2_tile.json", &f.render["tile"])
        .replace("\"stage\": \"$default\"", "\"stage\": \"v1\"");
    assert!(staged.contains("\"stage\": \"v1\""));
    let resp = invoke(f.state.clone(), &staged).await;
    assert_eq!(resp["statusCode"], 200, "named HTTP API stage: {resp}");
    // Errors keep their status and JSON body through the adapter.
    let missing = event("apigw_v2_tile.json", &f.render["tile"])
        .replace("/mosaics/mosaic/", "/mosaics/absent/");
    let resp = invoke(f.state.clone(), &missing).await;
    assert_eq!(resp["statusCode"], 404);
    assert_eq!(resp["isBase64Encoded"], false);
    assert!(resp["body"].as_str().unwrap().contains("detail"));
}
