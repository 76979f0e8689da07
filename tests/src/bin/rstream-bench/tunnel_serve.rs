//! Serving the Router on the streams of a tunnel.

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rstream_core::Tunnel;

use crate::BoxError;

/// Serves `router` on every stream of `tunnel` (HTTP/1.1, keep-alive).
pub(crate) async fn serve(tunnel: Tunnel, router: Router) -> Result<(), BoxError> {
    while let Some(stream) = tunnel.accept().await? {
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
    Ok(())
}
