//! [`TunnelConnector`]: HTTP clients that reach private tunnels by name.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper::body::Body;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rstream_core::{Client, Error, StreamInfo, TunnelStream};
use tower_service::Service;

/// A connector for [`hyper_util::client::legacy::Client`] that dials the
/// private tunnel named by the URI's host.
///
/// `http://private-api/users` is sent as a plain HTTP request over a stream
/// dialed with [`Client::dial`]`("private-api")`; the stream itself is TLS
/// to the engine. Any port in the URI is ignored (tunnels are named, not
/// numbered), and `https` URIs are refused: the connector does not add a
/// second TLS layer. The HTTP client pools connections per host, so
/// sequential requests to one tunnel reuse one keep-alive stream.
///
/// ```no_run
/// # async fn run(client: rstream_core::Client) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use http_body_util::{BodyExt, Empty};
/// use hyper::body::Bytes;
/// use rstream_tower::TunnelConnector;
///
/// let http = TunnelConnector::new(client).http_client::<Empty<Bytes>>();
/// let response = http.get("http://private-api/health".parse()?).await?;
/// let body = response.into_body().collect().await?.to_bytes();
/// # Ok(()) }
/// ```
///
/// # Raw streams from a handler
///
/// For protocols other than HTTP, keep the [`Client`] (cheap to clone) in
/// the application state and dial per request:
///
/// ```no_run
/// use axum::{Router, extract::State, routing::get};
/// use rstream_core::Client;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// async fn ping(State(client): State<Client>) -> Result<String, String> {
///     let mut stream = client.dial("private-db").await.map_err(|e| e.to_string())?;
///     stream.write_all(b"PING\r\n").await.map_err(|e| e.to_string())?;
///     let mut reply = vec![0; 64];
///     let n = stream.read(&mut reply).await.map_err(|e| e.to_string())?;
///     Ok(String::from_utf8_lossy(&reply[..n]).into_owned())
/// }
///
/// # fn app(client: Client) -> Router {
/// Router::new().route("/ping", get(ping)).with_state(client)
/// # }
/// ```
///
/// # A wrong tunnel name
///
/// By default each new connection waits for the engine's answer to the dial
/// (zero-RTT off), so a tunnel that does not exist is a connect error that
/// says so: the request fails with an [`Error`] (its source) for which
/// [`is_not_found`](Error::is_not_found) is true, instead of hyper's
/// "connection closed before message completed". Pooled connections are
/// reused, so this costs one round trip per new connection only;
/// [`zero_rtt(true)`](Self::zero_rtt) saves it.
#[derive(Clone, Debug)]
pub struct TunnelConnector {
    client: Client,
    zero_rtt: bool,
}

impl TunnelConnector {
    /// A connector that dials through `client`, waiting for the engine's
    /// answer to each dial.
    pub fn new(client: Client) -> Self {
        TunnelConnector {
            client,
            zero_rtt: false,
        }
    }

    /// Whether to dial with zero-RTT (off by default). With it, a new
    /// connection's request goes out without waiting for the engine, and an
    /// engine refusal (unknown tunnel, forbidden) shows up as the connection
    /// closing before the response.
    pub fn zero_rtt(mut self, zero_rtt: bool) -> Self {
        self.zero_rtt = zero_rtt;
        self
    }

    /// A pooled HTTP client (HTTP/1.1 with keep-alive) using this connector,
    /// with request bodies of type `B`.
    pub fn http_client<B>(self) -> hyper_util::client::legacy::Client<TunnelConnector, B>
    where
        B: Body + Send,
        B::Data: Send,
    {
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(self)
    }
}

impl Service<Uri> for TunnelConnector {
    type Response = TunnelConnection;
    type Error = Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Connecting {
        let client = self.client.clone();
        let zero_rtt = self.zero_rtt;
        Connecting(Box::pin(async move {
            let tunnel = tunnel_name(&uri)?;
            let stream = client
                .dial_with(&tunnel, rstream_core::DialOptions::new().zero_rtt(zero_rtt))
                .await?;
            tracing::debug!(tunnel = %tunnel, "dialed a private tunnel for HTTP");
            Ok(TunnelConnection {
                io: TokioIo::new(stream),
            })
        }))
    }
}

/// The private tunnel a URI names: its host.
fn tunnel_name(uri: &Uri) -> Result<String, Error> {
    match uri.scheme_str() {
        None | Some("http") => {}
        Some(other) => {
            return Err(Error::config(format!(
                "the tunnel connector speaks plain HTTP inside the tunnel stream (which is \
                 already TLS to the engine); use http:// instead of {other}://"
            )));
        }
    }
    match uri.host() {
        Some(host) if !host.is_empty() => Ok(host.to_owned()),
        _ => Err(Error::config(
            "the URI has no host; name the private tunnel as the host: http://NAME/path",
        )),
    }
}

/// The future of [`TunnelConnector`]'s `call`.
#[must_use = "futures do nothing unless polled"]
pub struct Connecting(Pin<Box<dyn Future<Output = Result<TunnelConnection, Error>> + Send>>);

impl fmt::Debug for Connecting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connecting").finish_non_exhaustive()
    }
}

impl Future for Connecting {
    type Output = Result<TunnelConnection, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

/// A dialed stream as a hyper client connection. Responses received over it
/// carry its [`StreamInfo`] as an extension.
#[derive(Debug)]
pub struct TunnelConnection {
    io: TokioIo<TunnelStream>,
}

impl TunnelConnection {
    /// What the engine told us about the dialed stream.
    pub fn info(&self) -> &StreamInfo {
        self.io.inner().info()
    }

    /// The dialed stream.
    pub fn into_inner(self) -> TunnelStream {
        self.io.into_inner()
    }
}

impl Connection for TunnelConnection {
    fn connected(&self) -> Connected {
        Connected::new().extra(self.info().clone())
    }
}

impl Read for TunnelConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for TunnelConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_names_the_tunnel() {
        let uri: Uri = "http://private-api:8080/users?x=1".parse().unwrap();
        assert_eq!(tunnel_name(&uri).unwrap(), "private-api");
        let uri: Uri = "http://tun_abc/".parse().unwrap();
        assert_eq!(tunnel_name(&uri).unwrap(), "tun_abc");
    }

    #[test]
    fn https_and_missing_hosts_are_refused() {
        let uri: Uri = "https://private-api/".parse().unwrap();
        let e = tunnel_name(&uri).unwrap_err();
        assert!(e.to_string().contains("http://"), "{e}");
        let uri: Uri = "/relative".parse().unwrap();
        let e = tunnel_name(&uri).unwrap_err();
        assert!(e.to_string().contains("no host"), "{e}");
    }
}
