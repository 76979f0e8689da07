//! Mints a short-lived application token locally from application
//! credentials.
//!
//! ```text
//! cargo run -p rstream-examples --bin mint-token -- --client-id ID --client-secret HEX \
//!     [--ttl S] [--resources JSON] [--project-endpoint P] \
//!     [--project-id ID | --workspace-id ID | --unscoped true]
//! ```
//!
//! `--resources` is the token's `resources` claim, `{"tunnels": ...}`; by
//! default the token may create, connect to and list tunnels. Scope-only
//! boundaries are bound to a project: `--project-id` (or `--workspace-id`)
//! names it offline, while `--project-endpoint` asks the control plane
//! (`RSTREAM_API_URL`, `https://rstream.io` by default) which project that
//! is; `--unscoped true` opts out. Prints the token on one line and exits
//! 0, or prints the error on stderr and exits 1.

use std::process::ExitCode;

use rstream_core::auth::{
    AppCredentials, TokenRequest, TokenResources, TunnelResource, TunnelScopes,
};
use rstream_core::control_plane::ControlPlane;
use rstream_examples::args::Options;

const KNOWN: &[&str] = &[
    "client-id",
    "client-secret",
    "ttl",
    "resources",
    "project-endpoint",
    "project-id",
    "workspace-id",
    "unscoped",
];

async fn mint(options: &Options) -> Result<String, String> {
    let credentials = AppCredentials::new(
        options.required("client-id")?,
        options.required("client-secret")?,
    )
    .map_err(|e| e.to_string())?;
    let resources = match options.get("resources") {
        Some(json) => serde_json::from_str::<TokenResources>(json)
            .map_err(|e| format!("--resources is not a valid resource boundary: {e}"))?,
        None => TokenResources::tunnels(TunnelResource::scopes(TunnelScopes::all())),
    };
    let mut request = TokenRequest::new(resources);
    if let Some(ttl) = options.number("ttl")? {
        request = request.expires_in(ttl);
    }
    let bindings = ["project-id", "workspace-id", "unscoped", "project-endpoint"];
    if bindings.iter().filter(|b| options.get(b).is_some()).count() > 1 {
        return Err(format!("give at most one of --{}", bindings.join(", --")));
    }
    if let Some(id) = options.get("project-id") {
        request = request.project(id);
    } else if let Some(id) = options.get("workspace-id") {
        request = request.workspace(id);
    } else if let Some(flag) = options.get("unscoped") {
        match flag {
            "true" => request = request.unscoped(),
            "false" => {}
            other => return Err(format!("--unscoped must be true or false, not {other:?}")),
        }
    } else if let Some(endpoint) = options.get("project-endpoint") {
        // Only ask the control plane when the boundary needs the project.
        if request.needs_binding() {
            let (id, engine) = resolve(&credentials, endpoint).await?;
            request = request.project(id);
            if let Some(engine) = engine {
                request = request.engine(engine);
            }
        }
    }
    credentials
        .mint_now(&request)
        .map(|token| token.expose().to_owned())
        .map_err(|e| e.to_string())
}

/// The id and engine of the project behind `endpoint`, asked of the control
/// plane with application tokens.
async fn resolve(
    credentials: &AppCredentials,
    endpoint: &str,
) -> Result<(String, Option<String>), String> {
    let mut builder = ControlPlane::builder();
    if let Ok(url) = std::env::var("RSTREAM_API_URL") {
        builder = builder.api_url(url);
    }
    let control_plane = builder
        .build()
        .map_err(|e| e.to_string())?
        .with_app_credentials(credentials.clone());
    let project = control_plane
        .resolve_project(endpoint)
        .await
        .map_err(|e| e.to_string())?;
    let id = project
        .id
        .clone()
        .ok_or_else(|| format!("the control plane gave no id for project {endpoint:?}"))?;
    let engine = project.engine_address(None).ok().map(|a| a.to_string());
    Ok((id, engine))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1), KNOWN) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    match mint(&options).await {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
