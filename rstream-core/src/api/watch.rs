//! [`EngineApi::watch`]: a stream of engine events that reconnects after
//! network errors.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::Stream;

use super::filters::watch_params;
use super::sse::SseParser;
use super::websocket::{self, Frame, WatchSocket};
use super::{ClientFilters, EngineApi, TunnelFilters, WatchEvent};
use crate::reconnect::Backoff;
use crate::{Error, http};

/// How events travel from the engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum WatchTransport {
    /// Server-sent events on `GET /api/sse` (the default).
    #[default]
    Sse,
    /// A WebSocket on `/api/websocket`, one JSON event per message.
    WebSocket,
}

/// How long a watch waits without a byte from the engine (events, SSE
/// keep-alive comments, WebSocket pings or pongs) before it takes the
/// connection for dead and reconnects; Go's watch uses the same bound.
pub const DEFAULT_WATCH_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// How often a quiet watch WebSocket is pinged (Go's watch interval), or
/// a third of the idle timeout when that is shorter.
const WS_PING_INTERVAL: Duration = Duration::from_secs(20);

fn ping_interval(idle_timeout: Option<Duration>) -> Duration {
    idle_timeout.map_or(WS_PING_INTERVAL, |idle| (idle / 3).min(WS_PING_INTERVAL))
}

/// What to watch and how.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WatchOptions {
    /// Tunnel events to receive; `None` sends no tunnel filter.
    pub tunnels: Option<TunnelFilters>,
    /// Client events to receive; `None` sends no client filter.
    pub clients: Option<ClientFilters>,
    /// The transport (default SSE).
    pub transport: WatchTransport,
    /// Reconnect when nothing (not even a keep-alive) arrived for this
    /// long; `None` keeps a silent connection forever. Default:
    /// [`DEFAULT_WATCH_IDLE_TIMEOUT`]. Over WebSocket, a quiet connection
    /// is pinged every 20 s (or a third of this timeout, if shorter), so
    /// only a dead one stays silent.
    pub idle_timeout: Option<Duration>,
    /// Send the token as the `rstream.token` query parameter rather than
    /// an `Authorization` header, as the JavaScript SDK's watch does (a
    /// browser's `EventSource` cannot set headers). Default: off.
    ///
    /// A token in a URL may be logged on the way, so the JavaScript SDK's
    /// rules apply, checked on every token before it is sent: a JWT, not
    /// a personal access token, unexpired, issued at most 5 minutes ahead
    /// of this clock, living at most an hour; permissions, if any, only
    /// `tunnels.resources.read-only`; resources that grant listing tunnels
    /// and neither creating nor connecting. A token breaking them ends the
    /// watch with [`Error::Invalid`].
    pub query_token: bool,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            tunnels: None,
            clients: None,
            transport: WatchTransport::default(),
            idle_timeout: Some(DEFAULT_WATCH_IDLE_TIMEOUT),
            query_token: false,
        }
    }
}

impl WatchOptions {
    /// Everything the token may see, over SSE.
    pub fn new() -> Self {
        Self::default()
    }

    /// Filter tunnel events.
    pub fn tunnels(mut self, filters: TunnelFilters) -> Self {
        self.tunnels = Some(filters);
        self
    }

    /// Filter client events.
    pub fn clients(mut self, filters: ClientFilters) -> Self {
        self.clients = Some(filters);
        self
    }

    /// Choose the transport.
    pub fn transport(mut self, transport: WatchTransport) -> Self {
        self.transport = transport;
        self
    }

    /// Reconnect after this long without any byte from the engine;
    /// `None` never does.
    pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.idle_timeout = timeout.into();
        self
    }

    /// Send the token as the `rstream.token` query parameter.
    pub fn query_token(mut self, enabled: bool) -> Self {
        self.query_token = enabled;
        self
    }
}

impl EngineApi {
    /// A stream of the engine's lifecycle events (`state.initial`,
    /// `tunnel.created`, `client.deleted`, ...), filtered as `options` says.
    ///
    /// Nothing happens until the stream is first polled. After a network
    /// error or the engine closing the stream, it reconnects with backoff
    /// (1 s doubling to 30 s, jittered) and goes on; the engine starts every
    /// connection with a `state.initial` event holding the whole current
    /// state, from which a consumer resynchronises. Transient failures are
    /// logged (`tracing`), not yielded. The stream yields an `Err` and ends
    /// only when the engine refuses for good: credentials refused (401/403,
    /// [`Error::is_unauthorized`]) or a request it will never accept (other
    /// 4xx, such as malformed filters). Dropping the stream closes the
    /// connection.
    ///
    /// Every connection attempt takes a token of its own from the client's
    /// [`TokenProvider`](crate::auth::TokenProvider) (see
    /// [`EngineApi::with_token_provider`]): when a short-lived token
    /// expires and the engine ends the stream, the watch reconnects with a
    /// fresh one and goes on for as long as the provider hands them out. A
    /// fixed token that expired is refused on the reconnect, which ends the
    /// watch with that error. A provider's configuration or authentication
    /// error ends the watch too; its transient errors are retried.
    pub fn watch(
        &self,
        options: WatchOptions,
    ) -> impl Stream<Item = Result<WatchEvent, Error>> + Send + 'static {
        let state = WatchState {
            api: self.clone(),
            params: watch_params(options.tunnels.as_ref(), options.clients.as_ref()),
            transport: options.transport,
            idle_timeout: options.idle_timeout,
            query_token: options.query_token,
            backoff: Backoff::default(),
            connection: None,
            pending: VecDeque::new(),
            finished: false,
            failed_before: false,
        };
        futures_util::stream::unfold(state, |mut state| async move {
            let item = state.next_item().await?;
            Some((item, state))
        })
    }
}

struct WatchState {
    api: EngineApi,
    params: Option<String>,
    transport: WatchTransport,
    idle_timeout: Option<Duration>,
    query_token: bool,
    backoff: Backoff,
    connection: Option<Connection>,
    pending: VecDeque<WatchEvent>,
    finished: bool,
    /// Whether the previous attempt failed (to wait before the next one).
    failed_before: bool,
}

enum Connection {
    Sse {
        response: reqwest::Response,
        parser: SseParser,
    },
    WebSocket(WatchSocket),
}

impl Connection {
    /// The JSON payloads of the next events, waiting for at least one
    /// chunk or message; `Err` when the connection is over.
    async fn next_payloads(&mut self, ping_every: Duration) -> Result<Vec<String>, Error> {
        match self {
            Connection::Sse { response, parser } => {
                match response
                    .chunk()
                    .await
                    .map_err(|e| http::transport_error("GET /api/sse", e))?
                {
                    Some(bytes) => Ok(parser
                        .feed(&bytes)?
                        .into_iter()
                        .map(|message| message.data)
                        .collect()),
                    None => Err(Error::Closed("the engine ended the event stream".into())),
                }
            }
            Connection::WebSocket(socket) => {
                // A quiet connection is pinged, so that a dead one shows
                // up as silence (the idle timeout) rather than never.
                // Only what the engine sends counts as life: our own ping
                // does not return, the engine's pong does.
                let frame = loop {
                    match tokio::time::timeout(ping_every, websocket::next_frame(socket)).await {
                        Ok(frame) => break frame?,
                        Err(_) => websocket::ping(socket).await?,
                    }
                };
                match frame {
                    Frame::Text(text) => Ok(vec![text]),
                    Frame::Alive => Ok(Vec::new()),
                    Frame::Closed => Err(Error::Closed(
                        "the engine closed the event WebSocket".into(),
                    )),
                }
            }
        }
    }
}

impl WatchState {
    async fn next_item(&mut self) -> Option<Result<WatchEvent, Error>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            if self.finished {
                return None;
            }
            let Some(connection) = self.connection.as_mut() else {
                if self.failed_before {
                    // The default policy has no attempt limit: always a delay.
                    if let Some(delay) = self.backoff.next_delay() {
                        tokio::time::sleep(delay).await;
                    }
                }
                match self.connect().await {
                    Ok(connection) => {
                        self.connection = Some(connection);
                        self.failed_before = false;
                    }
                    Err(error) if is_final(&error) => {
                        self.finished = true;
                        return Some(Err(error));
                    }
                    Err(error) => {
                        tracing::warn!(%error, "engine event watch: connecting failed, retrying");
                        self.failed_before = true;
                    }
                }
                continue;
            };
            let ping_every = ping_interval(self.idle_timeout);
            let outcome = match self.idle_timeout {
                Some(limit) => tokio::time::timeout(limit, connection.next_payloads(ping_every))
                    .await
                    .unwrap_or_else(|_| Err(Error::timeout("waiting for engine events", limit))),
                None => connection.next_payloads(ping_every).await,
            };
            match outcome {
                Ok(payloads) => {
                    for payload in payloads {
                        match serde_json::from_str(payload.trim()) {
                            Ok(value) => match WatchEvent::from_json(value) {
                                Some(event) => self.pending.push_back(event),
                                None => tracing::debug!("engine event without a type, skipped"),
                            },
                            Err(error) => {
                                tracing::warn!(%error, "engine event is not JSON, skipped");
                            }
                        }
                    }
                    if !self.pending.is_empty() {
                        // A working connection: the next failure starts
                        // the backoff from its first step again.
                        self.backoff.reset();
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "engine event watch interrupted, reconnecting");
                    self.connection = None;
                    self.failed_before = true;
                }
            }
        }
    }

    async fn connect(&self) -> Result<Connection, Error> {
        if self.transport == WatchTransport::WebSocket {
            let socket = self
                .api
                .open_websocket(self.params.clone(), self.query_token)
                .await?;
            return Ok(Connection::WebSocket(socket));
        }
        let (label, request) = self
            .api
            .request(&["sse"], self.params.clone(), self.query_token)
            .await?;
        let response = request
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .header(reqwest::header::CACHE_CONTROL, "no-cache")
            .send()
            .await
            .map_err(|e| http::transport_error(&label, e))?;
        let response = http::check_status(&label, response).await?;
        Ok(Connection::Sse {
            response,
            parser: SseParser::default(),
        })
    }
}

/// Whether a watch must give up after `error`: refused credentials, a
/// request the engine will never accept, or a configuration problem.
pub(crate) fn is_final(error: &Error) -> bool {
    match error {
        Error::Http { status, .. } => (400..500).contains(status) && !matches!(status, 408 | 429),
        Error::Config(_) | Error::Invalid(_) => true,
        _ => error.is_unauthorized(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_errors() {
        let http = |status| Error::Http {
            status,
            request: "GET /api/sse".into(),
            message: String::new(),
        };
        for status in [400, 401, 403, 404] {
            assert!(is_final(&http(status)), "{status}");
        }
        for status in [408, 429, 500, 503] {
            assert!(!is_final(&http(status)), "{status}");
        }
        assert!(is_final(&Error::config("x")));
        assert!(is_final(&Error::invalid("x")));
        assert!(is_final(&Error::engine(1000, "no")));
        assert!(!is_final(&Error::io(
            "x",
            std::io::ErrorKind::ConnectionRefused.into()
        )));
        assert!(!is_final(&Error::Closed("ended".into())));
        assert!(!is_final(&Error::protocol("bad line")));
    }
}
