//! The WebSocket transport of watches: `wss://<engine>/api/websocket`, one
//! JSON event per message. The TLS connection comes from the runtime's own
//! [`Connector`], so proxy, CA, server name and `connect_to` apply as they
//! do to the control channel.

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

use super::{EngineApi, Route};
use crate::Error;
use crate::transport::Connector;

/// What a WebSocket runs over: TLS to the engine, or plain TCP for an
/// `http://` API URL (tests).
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Io for T {}

/// An open watch WebSocket.
pub(crate) type WatchSocket = WebSocketStream<Box<dyn Io>>;

const LABEL: &str = "GET /api/websocket";

impl EngineApi {
    /// Opens the watch WebSocket with `params` and a fresh token (a bearer
    /// token, or with `token_in_query` the `rstream.token` parameter).
    pub(crate) async fn open_websocket(
        &self,
        params: Option<String>,
        token_in_query: bool,
    ) -> Result<WatchSocket, Error> {
        let inner = &self.inner;
        let token = self.token().await?;
        let mut url = super::url_on(&self.api_url().await?, &["websocket"])?;
        if let Some(params) = params {
            url.query_pairs_mut().append_pair("params", &params);
        }
        if let (Some(token), true) = (&token, token_in_query) {
            crate::auth::check_url_token(token.expose(), crate::auth::unix_now())?;
            url.query_pairs_mut()
                .append_pair(super::QUERY_TOKEN_PARAMETER, token.expose());
        }
        let secure = url.scheme() == "https";
        url.set_scheme(if secure { "wss" } else { "ws" })
            .map_err(|()| Error::config("the engine API URL cannot carry a WebSocket scheme"))?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(443);

        let io: Box<dyn Io> = if secure {
            let connector = inner
                .ws_connector
                .get_or_try_init(|| async {
                    Ok::<_, Error>(
                        Connector::new(
                            &inner.tls,
                            inner.proxy.clone(),
                            vec![b"http/1.1".to_vec()],
                        )?
                        .with_connect_timeout(inner.connect_timeout),
                    )
                })
                .await?;
            let (dial, connect_to) = match &inner.route {
                Route::Direct => (host.clone(), None),
                Route::To(addr) => (host.clone(), Some(*addr)),
                Route::Lookup(engine, _) => (engine.clone(), None),
            };
            Box::new(
                connector
                    .connect_with_name(&dial, port, &host, connect_to, &[])
                    .await?,
            )
        } else {
            let stream = tokio::time::timeout(
                inner.connect_timeout,
                tokio::net::TcpStream::connect((host.as_str(), port)),
            )
            .await
            .map_err(|_| Error::timeout("connecting to the engine API", inner.connect_timeout))?
            .map_err(|e| Error::io("connecting to the engine API", e))?;
            Box::new(stream)
        };

        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| Error::config(format!("cannot form the WebSocket request: {e}")))?;
        if let (Some(token), false) = (&token, token_in_query) {
            let value = format!("Bearer {}", token.expose())
                .parse()
                .map_err(|_| Error::config("the token cannot travel in an HTTP header"))?;
            request.headers_mut().insert("authorization", value);
        }
        let (socket, _response) = tokio::time::timeout(
            inner.connect_timeout,
            tokio_tungstenite::client_async(request, io),
        )
        .await
        .map_err(|_| Error::timeout("opening the engine event WebSocket", inner.connect_timeout))?
        .map_err(handshake_error)?;
        Ok(socket)
    }
}

/// What the next frame of a watch WebSocket brought.
pub(crate) enum Frame {
    /// An event's text.
    Text(String),
    /// A ping or a pong: the connection is alive, no event.
    Alive,
    /// The engine closed the WebSocket.
    Closed,
}

/// The next frame of `socket` that matters to a watch.
pub(crate) async fn next_frame(socket: &mut WatchSocket) -> Result<Frame, Error> {
    loop {
        let Some(message) = socket.next().await else {
            return Ok(Frame::Closed);
        };
        match message.map_err(transport_error)? {
            Message::Text(text) => return Ok(Frame::Text(text.as_str().to_owned())),
            Message::Binary(bytes) => match String::from_utf8(bytes.to_vec()) {
                Ok(text) => return Ok(Frame::Text(text)),
                Err(_) => tracing::warn!("binary engine event is not UTF-8, skipped"),
            },
            Message::Ping(payload) => {
                // Answered right away rather than on the next write.
                socket
                    .send(Message::Pong(payload))
                    .await
                    .map_err(transport_error)?;
                return Ok(Frame::Alive);
            }
            Message::Pong(_) => return Ok(Frame::Alive),
            Message::Close(_) => return Ok(Frame::Closed),
            Message::Frame(_) => {}
        }
    }
}

/// Sends a ping, for the engine's pong to show the connection alive.
pub(crate) async fn ping(socket: &mut WatchSocket) -> Result<(), Error> {
    socket
        .send(Message::Ping(Vec::new().into()))
        .await
        .map_err(transport_error)
}

fn handshake_error(error: tungstenite::Error) -> Error {
    match error {
        tungstenite::Error::Http(response) => {
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .into_owned();
            crate::http::status_error(LABEL, response.status().as_u16(), &body)
        }
        other => transport_error(other),
    }
}

fn transport_error(error: tungstenite::Error) -> Error {
    match error {
        tungstenite::Error::Io(e) => Error::io("reading engine events", e),
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            Error::Closed("the engine closed the event WebSocket".into())
        }
        tungstenite::Error::Protocol(e) => Error::protocol(format!("engine event WebSocket: {e}")),
        other => Error::io(
            "reading engine events",
            std::io::Error::other(other.to_string()),
        ),
    }
}
