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

/// The event `template` (a recorded tile event) asking for `path_and_query` as the client sent
/// it: `public` is the URL path API Gateway reports (stage or base path included), `routed`
/// the path it hands the function.
fn event_for(template: &str, public: &str, routed: &str, query: &str) -> String {
    let mut ev: Value = serde_json::from_str(template).unwrap();
    let params: serde_json::Map<String, Value> = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), Value::from(v)))
        .collect();
    if ev.get("rawPath").is_some() {
        ev["rawPath"] = Value::from(public);
        ev["requestContext"]["http"]["path"] = Value::from(public);
        ev["rawQueryString"] = Value::from(query);
        ev["queryStringParameters"] = Value::Object(params);
    } else {
        ev["path"] = Value::from(routed);
        ev["requestContext"]["path"] = Value::from(public);
        ev["pathParameters"]["proxy"] = Value::from(routed.trim_start_matches('/'));
        let multi: serde_json::Map<String, Value> = params
            .iter()
            .map(|(k, v)| (k.clone(), Value::Array(vec![v.clone()])))
            .collect();
        ev["queryStringParameters"] = Value::Object(params);
        ev["multiValueQueryStringParameters"] = Value::Object(multi);
    }
    ev.to_string()
}

/// An HTTP API event as cargo-lambda's emulator builds it for `/lambda-url/tiler/...`
/// (`cargo-lambda-watch`'s trigger router): domain `localhost`, the function's name as the
/// domain prefix, user agent `cargo-lambda`, no account or API id; the client's headers.
fn cargo_lambda_event(v2: &str) -> String {
    let mut ev: Value = serde_json::from_str(v2).unwrap();
    let ctx = &mut ev["requestContext"];
    ctx["domainName"] = Value::from("localhost");
    ctx["domainPrefix"] = Value::from("tiler");
    ctx["http"]["userAgent"] = Value::from("cargo-lambda");
    ctx["http"]["sourceIp"] = Value::from("127.0.0.1");
    ctx["http"]["protocol"] = Value::from("http");
    let ctx = ctx.as_object_mut().unwrap();
    ctx.remove("accountId");
    ctx.remove("apiId");
    ev["headers"] = serde_json::json!({"host": "127.0.0.1:9000", "user-agent": "curl/8.5.0"});
    ev.to_string()
}

/// TileJSON's tile URL under each deployment shape is the URL the client can fetch: it keeps
/// the REST API stage, a custom domain's base path and a named HTTP API stage, and the tile it
/// names answers 200 through the same handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tile_urls_fetch_under_every_deployment_shape() {
    let f = fixture("uint8");
    let tile = &f.render["tile"];
    let v1 = event("apigw_v1_tile.json", tile);
    let v2 = event("apigw_v2_tile.json", tile);
    let v2_staged = v2.replace("\"stage\": \"$default\"", "\"stage\": \"v1\"");
    let cargo_lambda = cargo_lambda_event(&v2);
    let aws = "https://abc123.execute-api.us-east-1.amazonaws.com";
    let tj = "/mosaics/mosaic/WebMercatorQuad/tilejson.json";
    for (shape, template, host, prefix) in [
        ("REST API stage", &v1, aws, "/prod"),
        ("REST API on a custom domain base path", &v1, aws, "/tiles"),
        ("HTTP API $default", &v2, aws, ""),
        ("HTTP API named stage", &v2_staged, aws, "/v1"),
        (
            "cargo lambda watch",
            &cargo_lambda,
            "http://127.0.0.1:9000",
            "/lambda-url/tiler",
        ),
    ] {
        // cargo-lambda hands the function the path without its `/lambda-url/{fn}` prefix.
        let seen = |public: &str, routed: &str| {
            if template == &cargo_lambda {
                routed.to_string()
            } else {
                public.to_string()
            }
        };
        let ev = event_for(
            template,
            &seen(&format!("{prefix}{tj}"), tj),
            tj,
            "pixel_selection=first",
        );
        let resp = invoke(f.state.clone(), &ev).await;
        assert_eq!(resp["statusCode"], 200, "{shape}: {resp}");
        let body: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
        let url = body["tiles"][0].as_str().unwrap().to_string();
        let expected = format!("{host}{prefix}/mosaics/mosaic/tiles/WebMercatorQuad/");
        assert!(url.starts_with(&expected), "{shape}: {url}");
        let url = url
            .replace("{z}", &tile["z"].to_string())
            .replace("{x}", &tile["x"].to_string())
            .replace("{y}", &tile["y"].to_string());
        let (path, query) = url[host.len()..]
            .split_once('?')
            .unwrap_or((&url[host.len()..], ""));
        let routed = path.strip_prefix(prefix).unwrap();
        let ev = event_for(template, &seen(path, routed), routed, query);
        let resp = invoke(f.state.clone(), &ev).await;
        assert_eq!(resp["statusCode"], 200, "{shape}: {path}?{query}: {resp}");
    }
}
