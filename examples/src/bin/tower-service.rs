//! User story: "my HTTP service is a plain tower `Service` (no axum). I
//! want it served over a tunnel with HTTP/1.1, HTTP/2, graceful shutdown and
//! the client's address on every request."
//!
//! ```text
//! cargo run -p rstream-examples --bin tower-service
//! ```
//!
//! Prints a `curl` command; Ctrl-C stops it, letting requests in flight
//! finish (for at most 10 s).

use std::convert::Infallible;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use rstream_core::{StreamInfo, TunnelOptions};
use rstream_examples::{BoxError, client_or_local_engine};

/// The whole application: one function, made a tower `Service` below.
async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let from = request
        .extensions()
        .get::<StreamInfo>()
        .and_then(|info| info.source_ip)
        .map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string());
    let text = format!(
        "{} {} over {:?}, from {from}\n",
        request.method(),
        request.uri().path(),
        request.version()
    );
    Ok(Response::new(Full::new(Bytes::from(text))))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let setup = client_or_local_engine().await?;
    let tunnel = setup
        .client()
        .tunnel(TunnelOptions::http().publish(true).name("tower-service"))
        .await?;
    setup.print_http_instructions(&tunnel.forwarding_address(), "/hello");

    let service = tower::service_fn(answer);
    rstream_tower::serve(tunnel, service)
        .shutdown_deadline(Duration::from_secs(10))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
