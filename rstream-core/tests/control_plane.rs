//! The control plane against an in-test server: project resolution (with
//! and without region, and the ways it fails), a client built from a
//! configuration that names only a project, and the shape of token requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rstream_core::config::{ConfigOptions, resolve};
use rstream_core::control_plane::{ControlPlane, TokenRequest};
use rstream_core::{ClientBuilder, Error, TunnelOptions};
use rstream_e2e::*;
use serde_json::{Value, json};

const TOKEN: &str = "tok_control_plane";

/// What the server saw.
#[derive(Default)]
struct Seen {
    token_bodies: Vec<Value>,
    headers: Vec<HeaderMap>,
}

#[derive(Clone)]
struct Plane {
    seen: Arc<Mutex<Seen>>,
    /// Where the `local` project's engine listens.
    local_port: u16,
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

async fn resolve_project(
    State(plane): State<Plane>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
) -> Response {
    plane.seen.lock().unwrap().headers.push(headers.clone());
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, r#"{"error":"Unauthorized"}"#).into_response();
    }
    let body = match endpoint.as_str() {
        "plain" => json!({
            "id": "prj_1", "endpoint": "plain", "domain": "c.example.test", "enginePort": 8443,
            "routing": "global", "name": "ignored extra field"
        }),
        "regional" => json!({
            "id": "prj_2", "endpoint": "regional", "domain": "c.example.test",
            "regionalEndpoints": [
                {"provider": "aws", "region": "eu-west-3", "domain": "eu.example.test", "enginePort": 443},
                {"provider": "aws", "region": "us-east-1", "domain": "us.example.test", "enginePort": 9443},
                {"provider": "gcp", "region": "twice", "domain": "a.example.test", "enginePort": 443},
                {"provider": "aws", "region": "twice", "domain": "b.example.test", "enginePort": 443}
            ]
        }),
        "local" => json!({
            "id": "prj_3", "endpoint": "local", "domain": "localhost", "enginePort": plane.local_port
        }),
        "broken" => return (StatusCode::OK, "<html>not json</html>").into_response(),
        "down" => return (StatusCode::SERVICE_UNAVAILABLE, "maintenance").into_response(),
        _ => return (StatusCode::NOT_FOUND, r#"{"error":"Project not found"}"#).into_response(),
    };
    axum::Json(body).into_response()
}

async fn create_token(State(plane): State<Plane>, headers: HeaderMap, body: String) -> Response {
    if !authorized(&headers) {
        return (StatusCode::FORBIDDEN, "forbidden").into_response();
    }
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    plane.seen.lock().unwrap().token_bodies.push(body);
    axum::Json(json!({"token": "tok_short_lived", "expires_at": "later"})).into_response()
}

/// Serves the in-test control plane on loopback; returns its URL.
async fn serve(local_port: u16) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = Router::new()
        .route(
            "/api/projects/tunnels/resolve/{endpoint}",
            get(resolve_project),
        )
        .route("/api/tokens", post(create_token))
        .with_state(Plane {
            seen: seen.clone(),
            local_port,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), seen)
}

fn control_plane(url: &str) -> ControlPlane {
    ControlPlane::builder()
        .api_url(url)
        .token(TOKEN)
        .header("X-Team", "blue")
        .build()
        .unwrap()
}

#[tokio::test]
async fn resolves_without_region() {
    let (url, seen) = serve(1).await;
    let cp = control_plane(&url);
    let project = guard(cp.resolve_project("plain")).await.unwrap();
    assert_eq!(project.id.as_deref(), Some("prj_1"));
    assert_eq!(project.engine_port, Some(8443));
    let engine = guard(cp.resolve_engine("plain", None)).await.unwrap();
    assert_eq!(engine.to_string(), "plain.c.example.test:8443");
    let regional_default = guard(cp.resolve_engine("regional", None)).await.unwrap();
    assert_eq!(regional_default.to_string(), "regional.c.example.test:443");
    let seen = seen.lock().unwrap();
    let headers = seen.headers.last().unwrap();
    assert_eq!(headers.get("x-team").unwrap(), "blue");
    assert_eq!(headers.get("accept").unwrap(), "application/json");
}

#[tokio::test]
async fn resolves_with_region() {
    let (url, _) = serve(1).await;
    let cp = control_plane(&url);
    let eu = guard(cp.resolve_engine("regional", Some("EU-West-3")))
        .await
        .unwrap();
    assert_eq!(eu.to_string(), "regional.eu.example.test:443");
    let us = guard(cp.resolve_engine("regional", Some("us-east-1")))
        .await
        .unwrap();
    assert_eq!(us.to_string(), "regional.us.example.test:9443");
    let auto = guard(cp.resolve_engine("regional", Some("auto")))
        .await
        .unwrap();
    assert_eq!(auto.to_string(), "regional.c.example.test:443");
}

#[tokio::test]
async fn resolution_errors() {
    let (url, _) = serve(1).await;
    let cp = control_plane(&url);

    let missing = guard(cp.resolve_engine("regional", Some("ap-south-1")))
        .await
        .unwrap_err();
    assert!(matches!(missing, Error::Config(_)), "{missing}");
    assert!(
        missing.to_string().contains("eu-west-3, twice, us-east-1"),
        "{missing}"
    );

    let ambiguous = guard(cp.resolve_engine("regional", Some("twice")))
        .await
        .unwrap_err();
    assert!(ambiguous.to_string().contains("ambiguous"), "{ambiguous}");

    let unknown = guard(cp.resolve_project("ghost")).await.unwrap_err();
    assert_eq!(unknown.http_status(), Some(404), "{unknown}");
    assert!(!unknown.is_retryable() && !unknown.is_unauthorized());
    assert!(
        unknown.to_string().contains("Project not found"),
        "{unknown}"
    );

    let broken = guard(cp.resolve_project("broken")).await.unwrap_err();
    assert!(broken.is_protocol(), "{broken}");

    let down = guard(cp.resolve_project("down")).await.unwrap_err();
    assert_eq!(down.http_status(), Some(503));
    assert!(down.is_retryable());

    let stranger = ControlPlane::builder()
        .api_url(&url)
        .token("tok_wrong")
        .build()
        .unwrap();
    let refused = guard(stranger.resolve_project("plain")).await.unwrap_err();
    assert!(refused.is_unauthorized(), "{refused}");
    assert!(!refused.to_string().contains("tok_wrong"), "{refused}");

    let blank = guard(cp.resolve_project("  ")).await.unwrap_err();
    assert!(matches!(blank, Error::Config(_)));

    // Nothing listens there.
    let nowhere = ControlPlane::builder()
        .api_url("http://127.0.0.1:9")
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let err = guard(nowhere.resolve_project("plain")).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
}

fn config(url: &str, endpoint: &str, region: Option<&str>) -> rstream_core::config::ResolvedConfig {
    let options = ConfigOptions {
        api_url: Some(url.to_owned()),
        project_endpoint: Some(endpoint.to_owned()),
        region: region.map(str::to_owned),
        token: Some(TOKEN.into()),
        api_headers: vec![("X-Team".into(), "green".into())],
        ..ConfigOptions::default()
    };
    resolve(&options, &HashMap::new(), None, 0).unwrap()
}

#[tokio::test]
async fn client_from_a_configuration_naming_only_a_project() {
    let engine = rstream_local_engine::LocalEngine::builder()
        .token(TOKEN)
        .start()
        .await
        .expect("local engine starts");
    let (url, seen) = serve(engine.engine_addr().port()).await;

    let regional = config(&url, "regional", Some("us-east-1"));
    let builder = guard(ClientBuilder::resolve(&regional)).await.unwrap();
    assert_eq!(
        builder.build().unwrap().engine(),
        "regional.us.example.test:9443"
    );

    // The project `local` lives on the local engine: resolve, connect and
    // create a tunnel. (rustls does not accept the engine certificate's
    // `*.localhost` for `local.localhost`: a wildcard right above a
    // single-label name is refused, so verify the name `localhost`.)
    let local = config(&url, "local", None);
    assert!(
        ClientBuilder::from_config(&local).is_err(),
        "needs resolution"
    );
    let client = guard(ClientBuilder::resolve(&local))
        .await
        .unwrap()
        .ca_pem(engine.ca_pem())
        .server_name("localhost")
        .connect_to(engine.engine_addr())
        .build()
        .unwrap();
    assert_eq!(
        client.engine(),
        format!("local.localhost:{}", engine.engine_addr().port())
    );
    let control = guard(client.connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new().name("resolved")))
        .await
        .unwrap();
    assert!(!tunnel.id().is_empty());
    guard(control.close()).await.unwrap();
    let headers = seen.lock().unwrap().headers.last().cloned().unwrap();
    assert_eq!(headers.get("x-team").unwrap(), "green");

    let unknown = config(&url, "ghost", None);
    let err = guard(ClientBuilder::resolve(&unknown)).await.unwrap_err();
    assert_eq!(err.http_status(), Some(404));
}

#[tokio::test]
async fn token_minting_request_shape() {
    let (url, seen) = serve(1).await;
    let cp = control_plane(&url);
    let request = TokenRequest::new(Duration::from_secs(300))
        .permission("tunnels:list")
        .permission("tunnels:connect")
        .resources(json!({"tunnels": {"projects": ["prj_1"]}}));
    let token = guard(cp.create_token(&request)).await.unwrap();
    assert_eq!(token.expose(), "tok_short_lived");
    assert!(!format!("{token:?}").contains("tok_short_lived"));
    let minimal = guard(cp.create_token(&TokenRequest::new(Duration::from_secs(1))))
        .await
        .unwrap();
    assert_eq!(minimal.expose(), "tok_short_lived");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.token_bodies,
            vec![
                json!({
                    "expires_in": 300,
                    "permissions": ["tunnels:list", "tunnels:connect"],
                    "resources": {"tunnels": {"projects": ["prj_1"]}}
                }),
                json!({"expires_in": 1}),
            ]
        );
    }

    // Refused before any request.
    for bad in [Duration::ZERO, Duration::from_secs(3601)] {
        let err = guard(cp.create_token(&TokenRequest::new(bad)))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
    }
    assert_eq!(seen.lock().unwrap().token_bodies.len(), 2);

    let stranger = ControlPlane::builder()
        .api_url(&url)
        .token("tok_wrong")
        .build()
        .unwrap();
    let err = guard(stranger.create_token(&TokenRequest::new(Duration::from_secs(60))))
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    assert_eq!(err.http_status(), Some(403));
}
