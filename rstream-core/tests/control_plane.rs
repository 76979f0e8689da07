//! The control plane against an in-test server: project resolution (with
//! and without region, and the ways it fails), a client built from a
//! configuration that names only a project, and the shape of token requests;
//! whoami, project listing and TURN credentials, with a token or with
//! application credentials (the server checks each minted token's
//! signature with the application's public key).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rstream_core::auth::{AppCredentials, verify_es512};
use rstream_core::auth::{Scope, TokenRequest, TokenResources, TunnelResource, TunnelScopes};
use rstream_core::config::{ConfigOptions, resolve};
use rstream_core::control_plane::{ControlPlane, ProjectQuery, ProjectRef};
use rstream_core::turn::TurnOptions;
use rstream_core::{ClientBuilder, Error, TunnelOptions};
use rstream_e2e::*;
use serde_json::{Value, json};
use std::sync::LazyLock;

static APP_SECRET: LazyLock<String> = LazyLock::new(|| key_vector("signing_key", "client_secret"));
static APP_PUBLIC: LazyLock<String> =
    LazyLock::new(|| key_vector("signing_key", "public_key_sec1"));
static OTHER_SECRET: LazyLock<String> = LazyLock::new(|| key_vector("turn_app", "client_secret"));
static SERVER_SPKI: LazyLock<String> =
    LazyLock::new(|| key_vector("turn_app", "server_public_key_spki"));
static APP_USER: LazyLock<String> = LazyLock::new(|| key_vector("turn_app", "username"));
static APP_CRED: LazyLock<String> = LazyLock::new(|| key_vector("turn_app", "credential"));

const TOKEN: &str = "tok_control_plane";

/// What the server saw.
#[derive(Default)]
struct Seen {
    token_bodies: Vec<Value>,
    headers: Vec<HeaderMap>,
    /// Query strings of project listings.
    queries: Vec<Option<String>>,
    /// Path and body of TURN credential requests.
    turn_requests: Vec<(String, Value)>,
    /// Claims of the application tokens that authenticated.
    app_claims: Vec<Value>,
    /// Keyring files asked for, and whether an `Authorization` came along.
    keyring_requests: Vec<(String, bool)>,
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

/// The token, or an application token signed by the application's key,
/// still valid, for client `app-1`.
fn authorized_or_app(plane: &Plane, headers: &HeaderMap) -> bool {
    if authorized(headers) {
        return true;
    }
    let Some(token) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let public = hex::decode(APP_PUBLIC.as_str()).unwrap();
    let Ok(payload) = verify_es512(token, &public) else {
        return false;
    };
    let claims: Value = serde_json::from_slice(&payload).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let valid = claims["type"] == "app"
        && claims["clientId"] == "app-1"
        && claims["exp"].as_u64().is_some_and(|exp| exp > now);
    plane.seen.lock().unwrap().app_claims.push(claims);
    valid
}

async fn whoami(State(plane): State<Plane>, headers: HeaderMap) -> Response {
    if !authorized_or_app(&plane, &headers) {
        return (StatusCode::UNAUTHORIZED, r#"{"error":"Unauthorized"}"#).into_response();
    }
    axum::Json(json!({
        "id": "usr_1", "role": "owner", "email": "a@example.test",
        "permissions": ["projects.read"], "extra": true
    }))
    .into_response()
}

async fn list_projects(
    State(plane): State<Plane>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if !authorized_or_app(&plane, &headers) {
        return (StatusCode::UNAUTHORIZED, r#"{"error":"Unauthorized"}"#).into_response();
    }
    plane.seen.lock().unwrap().queries.push(query);
    axum::Json(json!({
        "projects": [
            {"id": "prj_1", "workspaceId": "ws_1", "name": "One", "endpoint": "one",
             "domain": "c.example.test", "enginePort": 443, "status": "active",
             "provider": "aws", "region": "eu-west-3", "plan": "pro", "deployment": "shared",
             "turnDomain": "turn.example.test", "turnPort": 3478, "turnsPort": 5349},
            {"id": "prj_2", "endpoint": "two"}
        ],
        "page": 2, "pageSize": 2, "total": 5, "totalPages": 3
    }))
    .into_response()
}

async fn turn_credentials(
    State(plane): State<Plane>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if !authorized_or_app(&plane, &headers) {
        return (StatusCode::UNAUTHORIZED, r#"{"error":"Unauthorized"}"#).into_response();
    }
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    plane
        .seen
        .lock()
        .unwrap()
        .turn_requests
        .push((project.clone(), body.clone()));
    let ttl = body["ttlSeconds"].as_u64().unwrap_or(600);
    match project.as_str() {
        "bad-urls" => axum::Json(json!({
            "username": "u", "credential": "c", "ttl": 60, "urls": ["http://evil.example"]
        }))
        .into_response(),
        "ghost" => (StatusCode::NOT_FOUND, r#"{"error":"Project not found"}"#).into_response(),
        _ => axum::Json(json!({
            "username": format!("v1:1:pat:{project}:abcd1234"),
            "credential": "c2VjcmV0",
            "ttl": ttl,
            "urls": ["turn:turn.example.test:3478?transport=udp",
                     "turns:turn.example.test:5349?transport=tcp"]
        }))
        .into_response(),
    }
}

async fn turn_credentials_by_endpoint(
    state: State<Plane>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    turn_credentials(state, Path(format!("endpoint:{endpoint}")), headers, body).await
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

async fn keyring(
    State(plane): State<Plane>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    plane
        .seen
        .lock()
        .unwrap()
        .keyring_requests
        .push((file.clone(), headers.contains_key("authorization")));
    match file.as_str() {
        "cluster.example.rstream.test.spki.der.hex" => {
            format!("{}\n", SERVER_SPKI.as_str()).into_response()
        }
        "huge.example.test.spki.der.hex" => "a".repeat(9000).into_response(),
        "html.example.test.spki.der.hex" => "<html>moved</html>".into_response(),
        _ => (StatusCode::NOT_FOUND, "no such keyring").into_response(),
    }
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
        .route("/api/whoami", get(whoami))
        .route("/api/projects/tunnels", get(list_projects))
        .route(
            "/api/projects/tunnels/{id}/turn-server/credentials",
            post(turn_credentials),
        )
        .route(
            "/api/projects/tunnels/resolve/{endpoint}/turn-server/credentials",
            post(turn_credentials_by_endpoint),
        )
        .route("/keys/keyrings/turn/{file}", get(keyring))
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

/// Connect and list, for the tunnels of the request's project or workspace.
fn connect_and_list() -> TokenResources {
    TokenResources::tunnels(TunnelResource::scopes(
        TunnelScopes::new()
            .connect(Scope::Allowed(true))
            .list(Scope::Allowed(true)),
    ))
}

#[tokio::test]
async fn token_minting_request_shape() {
    let (url, seen) = serve(1).await;
    let cp = control_plane(&url);
    let request = TokenRequest::new(connect_and_list())
        .project("prj_1")
        .permissions(["tunnels:list", "tunnels:connect"])
        .expires_in(300);
    let token = guard(cp.create_token(&request)).await.unwrap();
    assert_eq!(token.expose(), "tok_short_lived");
    assert!(!format!("{token:?}").contains("tok_short_lived"));
    let minimal = TokenRequest::new(connect_and_list())
        .unscoped()
        .expires_in(1);
    let minimal = guard(cp.create_token(&minimal)).await.unwrap();
    assert_eq!(minimal.expose(), "tok_short_lived");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.token_bodies,
            vec![
                json!({
                    "expires_in": 300,
                    "permissions": ["tunnels:list", "tunnels:connect"],
                    "resources": {"tunnels": {
                        "projects": ["prj_1"],
                        "scopes": {"tunnels": {"connect": true, "list": true}}
                    }}
                }),
                json!({
                    "expires_in": 1,
                    "resources": {"tunnels": {"scopes": {"tunnels": {"connect": true, "list": true}}}}
                }),
            ]
        );
    }

    // Refused before any request, as a locally minted token would be: a
    // lifetime out of 1..=3600 s, a blank permission, scopes bound to
    // nothing without the explicit opt-out.
    for bad in [
        TokenRequest::new(connect_and_list())
            .unscoped()
            .expires_in(0),
        TokenRequest::new(connect_and_list())
            .unscoped()
            .expires_in(3601),
        TokenRequest::new(connect_and_list())
            .unscoped()
            .permissions([" "]),
        TokenRequest::new(connect_and_list()),
    ] {
        let err = guard(cp.create_token(&bad)).await.unwrap_err();
        assert!(err.is_invalid(), "{err}");
    }
    assert_eq!(seen.lock().unwrap().token_bodies.len(), 2);

    let stranger = ControlPlane::builder()
        .api_url(&url)
        .token("tok_wrong")
        .build()
        .unwrap();
    let err = guard(stranger.create_token(&TokenRequest::new(connect_and_list()).unscoped()))
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    assert_eq!(err.http_status(), Some(403));
}

fn app_control_plane(url: &str) -> ControlPlane {
    ControlPlane::builder()
        .api_url(url)
        .build()
        .unwrap()
        .with_app_credentials(AppCredentials::new("app-1", APP_SECRET.as_str()).unwrap())
}

#[tokio::test]
async fn whoami_with_a_token_or_application_credentials() {
    let (url, seen) = serve(1).await;
    let me = guard(control_plane(&url).whoami()).await.unwrap();
    assert_eq!(me.id, "usr_1");
    assert_eq!(me.role, "owner");
    assert_eq!(me.email.as_deref(), Some("a@example.test"));
    assert_eq!(me.permissions, ["projects.read"]);

    let app = app_control_plane(&url);
    assert!(!format!("{app:?}").contains(&APP_SECRET.as_str()[..32]));
    assert_eq!(guard(app.whoami()).await.unwrap().id, "usr_1");
    // Each request carries a fresh bare application token, as the
    // JavaScript SDK's control-plane client signs it.
    guard(app.whoami()).await.unwrap();
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.app_claims.len(), 2);
        for claims in &seen.app_claims {
            let object = claims.as_object().unwrap();
            let keys: Vec<_> = object.keys().map(String::as_str).collect();
            assert_eq!(keys.len(), 5, "{claims}");
            assert_eq!(claims["permissions"], Value::Null);
            let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
            assert_eq!(lifetime, 60);
        }
    }

    // Other credentials are refused: a wrong key signs a token the server
    // cannot verify; a wrong token is no better.
    let impostor = ControlPlane::builder()
        .api_url(&url)
        .build()
        .unwrap()
        .with_app_credentials(AppCredentials::new("app-1", OTHER_SECRET.as_str()).unwrap());
    let err = guard(impostor.whoami()).await.unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    let stranger = ControlPlane::builder()
        .api_url(&url)
        .token("tok_wrong")
        .build()
        .unwrap();
    let err = guard(stranger.whoami()).await.unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
}

#[tokio::test]
async fn project_listing_pages_queries_and_sorts() {
    let (url, seen) = serve(1).await;
    let cp = control_plane(&url);
    let page = guard(
        cp.list_projects(
            &ProjectQuery::new()
                .search("cam era")
                .page(2)
                .page_size(2)
                .sort("name")
                .order("desc"),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        (page.page, page.page_size, page.total, page.total_pages),
        (2, 2, 5, 3)
    );
    assert_eq!(page.projects.len(), 2);
    let one = &page.projects[0];
    assert_eq!(one.id.as_deref(), Some("prj_1"));
    assert_eq!(one.workspace_id.as_deref(), Some("ws_1"));
    assert_eq!(one.turn_domain.as_deref(), Some("turn.example.test"));
    assert_eq!((one.turn_port, one.turns_port), (Some(3478), Some(5349)));
    assert_eq!(page.projects[1].name, None);
    guard(app_control_plane(&url).list_projects(&ProjectQuery::new()))
        .await
        .unwrap();
    assert_eq!(
        seen.lock().unwrap().queries,
        vec![
            Some("q=cam+era&page=2&pageSize=2&sort=name&order=desc".to_owned()),
            None
        ]
    );
}

#[tokio::test]
async fn turn_credentials_by_id_or_endpoint() {
    let (url, seen) = serve(1).await;
    let cp = control_plane(&url);
    let by_id = guard(cp.turn_credentials(ProjectRef::Id("prj_1"), Some(120)))
        .await
        .unwrap();
    assert_eq!(by_id.username, "v1:1:pat:prj_1:abcd1234");
    assert_eq!(by_id.credential.expose(), "c2VjcmV0");
    assert_eq!(by_id.ttl, 120);
    assert_eq!(by_id.urls.len(), 2);
    assert!(!format!("{by_id:?}").contains("c2VjcmV0"));
    let by_endpoint =
        guard(app_control_plane(&url).turn_credentials(ProjectRef::Endpoint("one"), None))
            .await
            .unwrap();
    assert_eq!(by_endpoint.ttl, 600);
    assert_eq!(
        seen.lock().unwrap().turn_requests,
        vec![
            ("prj_1".to_owned(), json!({"ttlSeconds": 120})),
            // No TTL, no body, as the references send it.
            ("endpoint:one".to_owned(), Value::Null),
        ]
    );

    // Refused before any request: TTL out of 1..=3600, blank project.
    for (project, ttl) in [
        (ProjectRef::Id("prj_1"), Some(0)),
        (ProjectRef::Id("prj_1"), Some(3601)),
        (ProjectRef::Endpoint(" "), None),
    ] {
        let err = guard(cp.turn_credentials(project, ttl)).await.unwrap_err();
        assert!(err.is_invalid(), "{err}");
    }
    assert_eq!(seen.lock().unwrap().turn_requests.len(), 2);

    // What the control plane answers is checked, and its errors kept.
    let err = guard(cp.turn_credentials(ProjectRef::Id("bad-urls"), None))
        .await
        .unwrap_err();
    assert!(err.is_protocol(), "{err}");
    let err = guard(cp.turn_credentials(ProjectRef::Id("ghost"), None))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn app_mode_turn_credentials_fetch_the_keyring_then_derive_locally() {
    let (url, seen) = serve(1).await;
    let cp = ControlPlane::builder()
        .api_url(&url)
        .token(TOKEN)
        .turn_keyring_url(format!("{url}/keys"))
        .build()
        .unwrap();
    let app = AppCredentials::new("client-1", OTHER_SECRET.as_str()).unwrap();
    let options =
        TurnOptions::new("proj-ep", "Cluster.Example.RSTREAM.test", 1_700_000_000).ttl(3600);
    let creds = guard(cp.turn_app_credentials(&app, &options))
        .await
        .unwrap();
    assert_eq!(creds.username, APP_USER.as_str());
    assert_eq!(creds.credential.expose(), APP_CRED.as_str());
    assert_eq!(
        seen.lock().unwrap().keyring_requests,
        [(
            "cluster.example.rstream.test.spki.der.hex".to_owned(),
            false
        )],
        "the realm lowercased, and no credentials sent for a public key"
    );

    for (realm, check) in [
        (
            "huge.example.test",
            Error::is_protocol as fn(&Error) -> bool,
        ),
        ("html.example.test", Error::is_protocol),
        ("absent.example.test", |e: &Error| {
            e.http_status() == Some(404)
        }),
        ("not a domain", Error::is_invalid),
    ] {
        let err = guard(cp.turn_keyring_key(realm)).await.unwrap_err();
        assert!(check(&err), "{realm}: {err}");
    }
    let bad = ControlPlane::builder()
        .turn_keyring_url("ftp://keys.example")
        .build();
    assert!(bad.is_err());
}
