//! [`serve`]: an axum `Router` over a tunnel with every protection and an
//! end, through `rstream_tower::serve`.

use std::task::{Context, Poll};

use axum::Router;
use axum::extract::ConnectInfo;
use http::Request;
use rstream_core::{Accept, StreamInfo};
use tower_service::Service;

use crate::TunnelAddr;

/// Serves `router` over every stream `acceptor` accepts, and returns when
/// the tunnel ends or the graceful shutdown signal has drained.
///
/// It is [`rstream_tower::serve`] with
/// [`ConnectInfo<TunnelAddr>`](axum::extract::ConnectInfo) added to every
/// request, so handlers written for `axum::serve` over a
/// [`TunnelListener`](crate::TunnelListener) work unchanged. Unlike
/// `axum::serve`, it times every request head on kept-alive connections
/// too, bounds a graceful shutdown by a deadline, and returns by itself
/// once the tunnel has ended. Configure it with the returned
/// [`rstream_tower::Serve`]'s methods (`header_read_timeout`,
/// `max_connections`, `shutdown_deadline`, `with_graceful_shutdown`, ...).
///
/// ```no_run
/// # async fn run(tunnel: rstream_core::Tunnel) -> Result<(), rstream_core::Error> {
/// use axum::{Router, extract::ConnectInfo, routing::get};
/// use rstream_axum::TunnelAddr;
///
/// let app = Router::new().route(
///     "/",
///     get(|ConnectInfo(addr): ConnectInfo<TunnelAddr>| async move {
///         format!("hello {:?}\n", addr.source_ip())
///     }),
/// );
/// rstream_axum::serve(tunnel, app)
///     .with_graceful_shutdown(async {
///         let _ = tokio::signal::ctrl_c().await;
///     })
///     .await
/// # }
/// ```
pub fn serve<A: Accept>(acceptor: A, router: Router) -> rstream_tower::Serve<A, WithConnectInfo> {
    rstream_tower::serve(acceptor, WithConnectInfo { router })
}

/// A `Router` that also finds [`ConnectInfo<TunnelAddr>`](ConnectInfo) in
/// every request, made from the stream's [`StreamInfo`]; the service
/// [`serve`] runs.
#[derive(Clone, Debug)]
pub struct WithConnectInfo {
    router: Router,
}

impl<B> Service<Request<B>> for WithConnectInfo
where
    Router: Service<Request<B>>,
{
    type Response = <Router as Service<Request<B>>>::Response;
    type Error = <Router as Service<Request<B>>>::Error;
    type Future = <Router as Service<Request<B>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        <Router as Service<Request<B>>>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if let Some(info) = request.extensions().get::<StreamInfo>().cloned() {
            request
                .extensions_mut()
                .insert(ConnectInfo(TunnelAddr::new(info)));
        }
        self.router.call(request)
    }
}
