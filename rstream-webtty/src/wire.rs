//! One WebTTY [`Message`] per WebSocket binary message.

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};

use crate::Error;
use crate::proto::Message;

/// Largest WebTTY message, encoded (the references' default, 1 MiB).
pub const MAX_MESSAGE_SIZE: usize = 1024 * 1024;

/// Largest chunk of process output per message.
pub(crate) const CHUNK: usize = 4096;

/// The WebSocket settings of both sides: messages and frames up to
/// [`MAX_MESSAGE_SIZE`].
pub(crate) fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_SIZE))
        .max_frame_size(Some(MAX_MESSAGE_SIZE))
}

/// Encodes and sends one message.
pub(crate) async fn send<S>(ws: &mut WebSocketStream<S>, message: &Message) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let bytes = message.encode_to_vec();
    if bytes.len() > MAX_MESSAGE_SIZE {
        return Err(Error::Protocol(format!(
            "a message of {} bytes passes the {MAX_MESSAGE_SIZE}-byte limit",
            bytes.len()
        )));
    }
    ws.send(WsMessage::Binary(bytes.into()))
        .await
        .map_err(|e| ws_error("sending", e))
}

/// Receives the next WebTTY message, `None` once the peer closed the
/// WebSocket (or the connection ended). Pings are answered by the
/// WebSocket layer; a text message or undecodable bytes are protocol
/// errors.
pub(crate) async fn recv<S>(ws: &mut WebSocketStream<S>) -> Result<Option<Message>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let Some(next) = ws.next().await else {
            return Ok(None);
        };
        match next {
            Ok(WsMessage::Binary(bytes)) => {
                return Message::decode(bytes.as_ref())
                    .map(Some)
                    .map_err(|e| Error::Protocol(format!("a message does not decode: {e}")));
            }
            Ok(WsMessage::Text(_)) => {
                return Err(Error::Protocol(
                    "a text WebSocket message; WebTTY messages are binary".to_owned(),
                ));
            }
            Ok(WsMessage::Close(_)) => return Ok(None),
            Ok(_) => continue,
            Err(
                tungstenite::Error::ConnectionClosed
                | tungstenite::Error::AlreadyClosed
                | tungstenite::Error::Protocol(
                    tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                ),
            ) => return Ok(None),
            Err(e) => return Err(ws_error("receiving", e)),
        }
    }
}

pub(crate) fn ws_error(what: &'static str, e: tungstenite::Error) -> Error {
    match e {
        tungstenite::Error::Io(io) => Error::io(what, io),
        tungstenite::Error::Capacity(c) => Error::Protocol(format!("a message is too large: {c}")),
        tungstenite::Error::Http(response) => Error::Refused {
            status: response.status().as_u16(),
        },
        other => Error::Protocol(format!("WebSocket {what}: {other}")),
    }
}
