//! The control channel's protocol logic as a state machine with no I/O:
//! frames from the engine, timer ticks and the application's requests go
//! in; [`Action`]s come out (frames to send, streams to open, tunnels to
//! notify, the end of the channel). The driver in [`super`] moves bytes and
//! time into it and carries the actions out.
//!
//! Everything here is synchronous and deterministic: time is an [`Instant`]
//! passed in, so the unit tests and the fuzz target drive it directly.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Error;
use crate::proto::{
    self, CloseControlChannelReq, CloseTunnelReq, ControlChannelLiveness, ErrorCode, Heartbeat,
    Message, OpenTunnelReq, ProxyConnReq, ProxyConnRsp, TunnelProperties, message::Payload,
    open_tunnel_rsp,
};

/// Proxy dials in flight at once per control channel.
pub(crate) const MAX_DIALS_IN_FLIGHT: usize = 64;
/// Proxy dials waiting for a slot before further streams are refused.
pub(crate) const MAX_DIALS_QUEUED: usize = 256;
/// The longest heartbeat timeout an engine may ask for.
pub(crate) const MAX_HEARTBEAT_TIMEOUT_MS: u32 = 900_000;

/// How a control channel (or one of its tunnels) ended.
#[derive(Clone, Debug)]
pub(crate) enum End {
    /// Closed on purpose, by us or by the engine.
    Closed,
    /// Failed: transport, protocol or liveness.
    Failed(Arc<Error>),
}

impl End {
    pub(crate) fn to_error(&self, what: &str) -> Error {
        match self {
            End::Closed => Error::Closed(format!("the {what} is closed")),
            End::Failed(e) => e.duplicate(),
        }
    }
}

/// Why the runtime refuses an announced stream, as sent back to the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

impl Refusal {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

/// What the driver must do.
#[derive(Debug)]
pub(crate) enum Action {
    /// Write this frame to the engine.
    Send(Message),
    /// Open the proxy connection of this announced stream, deliver it to its
    /// tunnel, then report with [`ControlState::stream_finished`].
    OpenStream(ProxyConnReq),
    /// The engine answered an `OpenTunnelReq`.
    TunnelOpened {
        request_id: String,
        result: Result<TunnelProperties, Error>,
    },
    /// The engine confirmed that a tunnel is closed.
    TunnelClosed { tunnel_id: String },
    /// The engine sent a message for the operator.
    ServerMessage(String),
    /// The channel has ended; nothing more will come out.
    End(End),
}

/// The negotiated heartbeat settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Liveness {
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
}

impl Liveness {
    /// Checks the engine's answer to a heartbeat request of `requested_ms`.
    pub(crate) fn negotiate(
        requested_ms: Option<u32>,
        answered: Option<ControlChannelLiveness>,
    ) -> Result<Option<Liveness>, Error> {
        let (Some(ms), Some(l)) = (requested_ms, answered) else {
            return Ok(None);
        };
        if l.heartbeat_interval_ms != ms
            || l.heartbeat_timeout_ms < ms
            || l.heartbeat_timeout_ms > MAX_HEARTBEAT_TIMEOUT_MS
        {
            return Err(Error::protocol(format!(
                "the engine answered an invalid liveness (interval {} ms, timeout {} ms) to a {ms} ms heartbeat request",
                l.heartbeat_interval_ms, l.heartbeat_timeout_ms
            )));
        }
        Ok(Some(Liveness {
            interval: Duration::from_millis(u64::from(l.heartbeat_interval_ms)),
            timeout: Duration::from_millis(u64::from(l.heartbeat_timeout_ms)),
        }))
    }
}

/// The state of one open control channel; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct ControlState {
    liveness: Option<Liveness>,
    /// When to send the next heartbeat (`None`: no heartbeats at all).
    heartbeat_interval: Option<Duration>,
    next_heartbeat: Option<Instant>,
    /// The engine must have sent a frame by then (negotiated liveness).
    alive_until: Option<Instant>,
    heartbeat_sent: u64,
    heartbeat_acked: u64,
    pending_opens: HashSet<String>,
    tunnels: HashSet<String>,
    streams_in_flight: usize,
    streams_queued: VecDeque<ProxyConnReq>,
    closing: bool,
    ended: Option<End>,
    actions: Vec<Action>,
}

impl ControlState {
    /// A channel just opened at `now`. `heartbeat_interval` is what the
    /// runtime sends at (also in legacy mode, as empty heartbeats);
    /// `liveness` what was negotiated.
    pub(crate) fn new(
        now: Instant,
        heartbeat_interval: Option<Duration>,
        liveness: Option<Liveness>,
    ) -> Self {
        ControlState {
            liveness,
            heartbeat_interval,
            next_heartbeat: heartbeat_interval.map(|_| now),
            alive_until: liveness.map(|l| now + l.timeout),
            heartbeat_sent: 0,
            heartbeat_acked: 0,
            pending_opens: HashSet::new(),
            tunnels: HashSet::new(),
            streams_in_flight: 0,
            streams_queued: VecDeque::new(),
            closing: false,
            ended: None,
            actions: Vec::new(),
        }
    }

    /// The actions produced so far, in order.
    pub(crate) fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// How the channel ended, once it has.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn ended(&self) -> Option<&End> {
        self.ended.as_ref()
    }

    /// Announced streams being opened, and waiting for a slot.
    #[cfg(test)]
    pub(crate) fn streams(&self) -> (usize, usize) {
        (self.streams_in_flight, self.streams_queued.len())
    }

    /// When [`on_tick`](Self::on_tick) must next be called.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        if self.ended.is_some() {
            return None;
        }
        match (self.next_heartbeat, self.alive_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn send(&mut self, message: impl Into<Message>) {
        self.actions.push(Action::Send(message.into()));
    }

    fn finish(&mut self, end: End) {
        if self.ended.is_some() {
            return;
        }
        self.ended = Some(end.clone());
        self.pending_opens.clear();
        self.tunnels.clear();
        self.streams_queued.clear();
        self.actions.push(Action::End(end));
    }

    fn fail(&mut self, error: Error) {
        self.finish(End::Failed(Arc::new(error)));
    }

    /// Time has passed: sends a heartbeat when one is due, fails the
    /// channel when the engine has been silent past the liveness timeout.
    pub(crate) fn on_tick(&mut self, now: Instant) {
        if self.ended.is_some() {
            return;
        }
        if let (Some(limit), Some(liveness)) = (self.alive_until, self.liveness) {
            if now >= limit {
                self.fail(Error::timeout(
                    "waiting for the engine: control channel liveness expired",
                    liveness.timeout,
                ));
                return;
            }
        }
        if let (Some(due), Some(interval)) = (self.next_heartbeat, self.heartbeat_interval) {
            if now >= due {
                let sequence = if self.liveness.is_some() {
                    self.heartbeat_sent += 1;
                    self.heartbeat_sent
                } else {
                    0
                };
                self.send(Heartbeat {
                    sequence,
                    acknowledgement: 0,
                });
                self.next_heartbeat = Some(now + interval);
            }
        }
    }

    /// A frame from the engine. A frame that breaks the protocol fails the
    /// channel.
    pub(crate) fn on_frame(&mut self, now: Instant, message: Message) {
        if self.ended.is_some() {
            return;
        }
        if let Some(liveness) = self.liveness {
            self.alive_until = Some(now + liveness.timeout);
        }
        if let Err(e) = self.handle(message) {
            self.fail(e);
        }
    }

    fn handle(&mut self, message: Message) -> Result<(), Error> {
        match message.payload {
            Some(Payload::Heartbeat(hb)) => self.on_heartbeat(hb),
            Some(Payload::OpenTunnelRsp(rsp)) => {
                self.on_open_tunnel_rsp(rsp);
                Ok(())
            }
            Some(Payload::CloseTunnelRsp(rsp)) => {
                if self.tunnels.remove(&rsp.tunnel_id) {
                    self.actions.push(Action::TunnelClosed {
                        tunnel_id: rsp.tunnel_id,
                    });
                }
                Ok(())
            }
            Some(Payload::ProxyConnReq(req)) => self.on_proxy_conn_req(req),
            Some(Payload::CloseControlChannelRsp(_)) => {
                self.finish(End::Closed);
                Ok(())
            }
            Some(Payload::ServerMessage(m)) => {
                self.actions.push(Action::ServerMessage(m.message));
                Ok(())
            }
            Some(other) => Err(Error::protocol(format!(
                "unexpected {} on the control channel",
                other.name()
            ))),
            None => Err(Error::protocol(
                "the engine sent a frame with no known message",
            )),
        }
    }

    fn on_heartbeat(&mut self, hb: Heartbeat) -> Result<(), Error> {
        if self.liveness.is_none() {
            if hb.sequence != 0 || hb.acknowledgement != 0 {
                return Err(Error::protocol(
                    "non-empty heartbeat on a legacy control channel",
                ));
            }
            return Ok(());
        }
        let (sent, acked) = (self.heartbeat_sent, self.heartbeat_acked);
        if hb.sequence != 0
            || hb.acknowledgement == 0
            || hb.acknowledgement <= acked
            || hb.acknowledgement > sent
        {
            return Err(Error::protocol(format!(
                "invalid heartbeat acknowledgement {} (sequence {}; last sent {sent}, last acknowledged {acked})",
                hb.acknowledgement, hb.sequence
            )));
        }
        self.heartbeat_acked = hb.acknowledgement;
        Ok(())
    }

    fn on_open_tunnel_rsp(&mut self, rsp: proto::OpenTunnelRsp) {
        let waited = self.pending_opens.remove(&rsp.request_id);
        let result = match rsp.payload {
            Some(open_tunnel_rsp::Payload::TunnelProperties(properties)) => {
                match properties.id.as_deref() {
                    Some(id) if !id.is_empty() => Ok(properties),
                    _ => Err(Error::protocol("the engine created a tunnel without an id")),
                }
            }
            Some(open_tunnel_rsp::Payload::Error(e)) => Err(e.into()),
            None => Err(Error::protocol("the engine sent an empty open_tunnel_rsp")),
        };
        if !waited {
            // Nobody waits (given up, or never asked): leave nothing open.
            if let Ok(properties) = result {
                self.send(CloseTunnelReq {
                    tunnel_id: properties.id.unwrap_or_default(),
                });
            }
            return;
        }
        if let Ok(properties) = &result {
            // Known before the next frame: a ProxyConnReq may follow at once.
            self.tunnels
                .insert(properties.id.clone().unwrap_or_default());
        }
        self.actions.push(Action::TunnelOpened {
            request_id: rsp.request_id,
            result,
        });
    }

    fn refuse(&mut self, stream_id: String, refusal: Refusal) {
        self.send(ProxyConnRsp {
            stream_id,
            error: Some(proto::Error::new(refusal.code, refusal.message)),
        });
    }

    fn on_proxy_conn_req(&mut self, req: ProxyConnReq) -> Result<(), Error> {
        if req.stream_id.is_empty() {
            return Err(Error::protocol("proxy_conn_req without a stream id"));
        }
        if !self.tunnels.contains(&req.tunnel_id) {
            self.refuse(
                req.stream_id,
                Refusal::new(ErrorCode::ServiceUnavailable, "Tunnel not found."),
            );
        } else if self.streams_in_flight < MAX_DIALS_IN_FLIGHT {
            self.streams_in_flight += 1;
            self.actions.push(Action::OpenStream(req));
        } else if self.streams_queued.len() < MAX_DIALS_QUEUED {
            self.streams_queued.push_back(req);
        } else {
            self.refuse(
                req.stream_id,
                Refusal::new(ErrorCode::CapacityExhausted, "Too many streams in flight."),
            );
        }
        Ok(())
    }

    /// An [`Action::OpenStream`] is done: the stream was delivered to its
    /// tunnel (`Ok`), or is refused. Answers the engine and starts the next
    /// queued stream.
    pub(crate) fn stream_finished(&mut self, stream_id: String, outcome: Result<(), Refusal>) {
        if self.ended.is_some() {
            return;
        }
        match outcome {
            Ok(()) => self.send(ProxyConnRsp {
                stream_id,
                error: None,
            }),
            Err(refusal) => self.refuse(stream_id, refusal),
        }
        self.streams_in_flight = self.streams_in_flight.saturating_sub(1);
        if let Some(next) = self.streams_queued.pop_front() {
            self.streams_in_flight += 1;
            self.actions.push(Action::OpenStream(next));
        }
    }

    /// Asks the engine for a tunnel; the answer comes as
    /// [`Action::TunnelOpened`] with the same `request_id`.
    pub(crate) fn open_tunnel(
        &mut self,
        request_id: String,
        properties: TunnelProperties,
    ) -> Result<(), Error> {
        if let Some(end) = &self.ended {
            return Err(end.to_error("control channel"));
        }
        self.pending_opens.insert(request_id.clone());
        self.send(OpenTunnelReq {
            request_id,
            tunnel_properties: Some(properties),
        });
        Ok(())
    }

    /// The application stopped waiting for `request_id`: if the engine still
    /// creates the tunnel, it is closed at once.
    pub(crate) fn abandon_open(&mut self, request_id: &str) {
        self.pending_opens.remove(request_id);
    }

    /// Asks the engine to close a tunnel of this channel (once per call; the
    /// handle keeps it to one).
    pub(crate) fn close_tunnel(&mut self, tunnel_id: &str) {
        if self.ended.is_none() && self.tunnels.contains(tunnel_id) {
            self.send(CloseTunnelReq {
                tunnel_id: tunnel_id.to_owned(),
            });
        }
    }

    /// Asks the engine to close the channel (once).
    pub(crate) fn close(&mut self) {
        if self.ended.is_none() && !self.closing {
            self.closing = true;
            self.send(CloseControlChannelReq {});
        }
    }

    /// Closing took too long: the channel counts as closed now.
    pub(crate) fn force_closed(&mut self) {
        self.finish(End::Closed);
    }

    /// The connection to the engine ended (`error`: why). After a close
    /// request, a clean end is the close; otherwise the channel failed.
    pub(crate) fn on_transport_end(&mut self, error: Error) {
        match error {
            Error::Closed(_) if self.closing => self.finish(End::Closed),
            // The engine went away: a transport failure, worth retrying.
            Error::Closed(_) => self.fail(Error::io(
                "reading the control channel",
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the engine closed the connection",
                ),
            )),
            e => self.fail(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{CloseTunnelRsp, ServerMessage};

    const SECOND: Duration = Duration::from_secs(1);

    fn liveness() -> Option<Liveness> {
        Some(Liveness {
            interval: SECOND,
            timeout: 3 * SECOND,
        })
    }

    /// A negotiated channel opened at `t0`, with its first heartbeat taken.
    fn channel() -> (ControlState, Instant) {
        let t0 = Instant::now();
        let mut s = ControlState::new(t0, Some(SECOND), liveness());
        s.on_tick(t0);
        assert!(matches!(&s.take_actions()[..], [Action::Send(_)]));
        (s, t0)
    }

    fn frame(payload: impl Into<Message>) -> Message {
        payload.into()
    }

    fn sent(actions: &[Action]) -> Vec<&Payload> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(m) => m.payload.as_ref(),
                _ => None,
            })
            .collect()
    }

    fn failed(actions: &[Action]) -> Option<&Error> {
        actions.iter().find_map(|a| match a {
            Action::End(End::Failed(e)) => Some(&**e),
            _ => None,
        })
    }

    fn properties(id: &str) -> TunnelProperties {
        TunnelProperties {
            id: Some(id.into()),
            ..TunnelProperties::default()
        }
    }

    fn opened(s: &mut ControlState, request: &str, id: &str) {
        s.open_tunnel(request.into(), TunnelProperties::default())
            .unwrap();
        s.on_frame(
            Instant::now(),
            frame(proto::OpenTunnelRsp {
                request_id: request.into(),
                payload: Some(open_tunnel_rsp::Payload::TunnelProperties(properties(id))),
            }),
        );
        let actions = s.take_actions();
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::TunnelOpened { result: Ok(_), .. })),
            "{actions:?}"
        );
    }

    fn announce(stream: &str, tunnel: &str) -> Message {
        frame(ProxyConnReq {
            tunnel_id: tunnel.into(),
            stream_id: stream.into(),
            ..ProxyConnReq::default()
        })
    }

    #[test]
    fn heartbeats_go_out_on_the_interval_with_rising_sequence_numbers() {
        let (mut s, t0) = channel();
        assert_eq!(s.next_deadline(), Some(t0 + SECOND));
        s.on_tick(t0 + SECOND / 2);
        assert!(s.take_actions().is_empty(), "not due yet");
        for n in 2..=4u64 {
            s.on_tick(t0 + SECOND * (n as u32 - 1));
            let actions = s.take_actions();
            match sent(&actions)[..] {
                [Payload::Heartbeat(hb)] => assert_eq!((hb.sequence, hb.acknowledgement), (n, 0)),
                ref other => panic!("{other:?}"),
            }
            // Acknowledged in time: the channel stays up.
            s.on_frame(
                t0 + SECOND * (n as u32 - 1),
                frame(Heartbeat {
                    sequence: 0,
                    acknowledgement: n,
                }),
            );
            assert!(failed(&s.take_actions()).is_none());
        }
    }

    #[test]
    fn legacy_channels_send_empty_heartbeats_and_refuse_numbered_ones() {
        let t0 = Instant::now();
        let mut s = ControlState::new(t0, Some(SECOND), None);
        s.on_tick(t0);
        match sent(&s.take_actions())[..] {
            [Payload::Heartbeat(hb)] => assert_eq!((hb.sequence, hb.acknowledgement), (0, 0)),
            ref other => panic!("{other:?}"),
        }
        // No liveness: silence is fine however long.
        s.on_tick(t0 + SECOND * 3600);
        assert!(failed(&s.take_actions()).is_none());
        s.on_frame(t0, frame(Heartbeat::default()));
        assert!(failed(&s.take_actions()).is_none());
        s.on_frame(
            t0,
            frame(Heartbeat {
                sequence: 1,
                acknowledgement: 0,
            }),
        );
        assert!(failed(&s.take_actions()).unwrap().is_protocol());
    }

    #[test]
    fn silence_past_the_liveness_timeout_fails_the_channel() {
        let (mut s, t0) = channel();
        // Any frame counts as a sign of life.
        s.on_frame(t0 + 2 * SECOND, frame(ServerMessage::default()));
        s.take_actions();
        s.on_tick(t0 + 4 * SECOND);
        let actions = s.take_actions();
        assert!(failed(&actions).is_none(), "{actions:?}");
        s.on_tick(t0 + 5 * SECOND);
        let actions = s.take_actions();
        let error = failed(&actions).expect("liveness expired");
        assert!(error.is_timeout() && error.is_retryable(), "{error}");
        // Ended: nothing more comes out, and no deadline is left.
        assert_eq!(s.next_deadline(), None);
        s.on_tick(t0 + 10 * SECOND);
        s.on_frame(t0, frame(ServerMessage::default()));
        assert!(s.take_actions().is_empty());
    }

    #[test]
    fn bad_acknowledgements_are_protocol_errors() {
        for (ack, sequence) in [(0, 0), (2, 0), (1, 1)] {
            let (mut s, t0) = channel();
            s.on_frame(
                t0,
                frame(Heartbeat {
                    sequence,
                    acknowledgement: ack,
                }),
            );
            let actions = s.take_actions();
            assert!(
                failed(&actions).unwrap().is_protocol(),
                "ack {ack} seq {sequence}"
            );
        }
        // A repeated acknowledgement as well.
        let (mut s, t0) = channel();
        let ack = frame(Heartbeat {
            sequence: 0,
            acknowledgement: 1,
        });
        s.on_frame(t0, ack.clone());
        assert!(failed(&s.take_actions()).is_none());
        s.on_frame(t0, ack);
        assert!(failed(&s.take_actions()).unwrap().is_protocol());
    }

    #[test]
    fn tunnel_answers_are_matched_by_request_id() {
        let (mut s, t0) = channel();
        s.open_tunnel("r1".into(), TunnelProperties::default())
            .unwrap();
        s.open_tunnel("r2".into(), TunnelProperties::default())
            .unwrap();
        assert_eq!(sent(&s.take_actions()).len(), 2);
        s.on_frame(
            t0,
            frame(proto::OpenTunnelRsp {
                request_id: "r2".into(),
                payload: Some(open_tunnel_rsp::Payload::Error(proto::Error::new(
                    ErrorCode::InvalidRequest,
                    "bad name",
                ))),
            }),
        );
        match &s.take_actions()[..] {
            [
                Action::TunnelOpened {
                    request_id,
                    result: Err(e),
                },
            ] => {
                assert_eq!(request_id, "r2");
                assert!(e.to_string().contains("bad name"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        s.on_frame(
            t0,
            frame(proto::OpenTunnelRsp {
                request_id: "r1".into(),
                payload: Some(open_tunnel_rsp::Payload::TunnelProperties(properties("t1"))),
            }),
        );
        assert!(matches!(
            &s.take_actions()[..],
            [Action::TunnelOpened { request_id, result: Ok(p) }] if request_id == "r1" && p.id.as_deref() == Some("t1")
        ));
        // An answer without an id is a protocol error for that request.
        s.open_tunnel("r3".into(), TunnelProperties::default())
            .unwrap();
        s.take_actions();
        s.on_frame(
            t0,
            frame(proto::OpenTunnelRsp {
                request_id: "r3".into(),
                payload: Some(open_tunnel_rsp::Payload::TunnelProperties(properties(""))),
            }),
        );
        assert!(matches!(
            &s.take_actions()[..],
            [Action::TunnelOpened {
                result: Err(Error::Protocol(_)),
                ..
            }]
        ));
    }

    #[test]
    fn a_tunnel_nobody_waits_for_is_closed_at_once() {
        let (mut s, t0) = channel();
        s.open_tunnel("r1".into(), TunnelProperties::default())
            .unwrap();
        s.abandon_open("r1");
        s.take_actions();
        s.on_frame(
            t0,
            frame(proto::OpenTunnelRsp {
                request_id: "r1".into(),
                payload: Some(open_tunnel_rsp::Payload::TunnelProperties(properties("t9"))),
            }),
        );
        match sent(&s.take_actions())[..] {
            [Payload::CloseTunnelReq(req)] => assert_eq!(req.tunnel_id, "t9"),
            ref other => panic!("{other:?}"),
        }
        // And its streams are refused.
        s.on_frame(t0, announce("s1", "t9"));
        match sent(&s.take_actions())[..] {
            [Payload::ProxyConnRsp(rsp)] => assert_eq!(
                rsp.error.as_ref().map(|e| e.code),
                Some(ErrorCode::ServiceUnavailable as i32)
            ),
            ref other => panic!("{other:?}"),
        }
    }

    #[test]
    fn streams_are_admitted_within_bounds_and_queued_beyond() {
        let (mut s, t0) = channel();
        opened(&mut s, "r1", "t1");
        for i in 0..MAX_DIALS_IN_FLIGHT + MAX_DIALS_QUEUED + 3 {
            s.on_frame(t0, announce(&format!("s{i}"), "t1"));
        }
        let actions = s.take_actions();
        let opens = actions
            .iter()
            .filter(|a| matches!(a, Action::OpenStream(_)))
            .count();
        assert_eq!(opens, MAX_DIALS_IN_FLIGHT);
        assert_eq!(s.streams(), (MAX_DIALS_IN_FLIGHT, MAX_DIALS_QUEUED));
        let refused: Vec<_> = sent(&actions)
            .into_iter()
            .filter_map(|p| match p {
                Payload::ProxyConnRsp(rsp) => rsp.error.as_ref().map(|e| e.code),
                _ => None,
            })
            .collect();
        assert_eq!(refused, vec![ErrorCode::CapacityExhausted as i32; 3]);
        // One done (delivered): its answer goes out and the first queued
        // stream starts.
        s.stream_finished("s0".into(), Ok(()));
        match &s.take_actions()[..] {
            [Action::Send(m), Action::OpenStream(next)] => {
                assert!(
                    matches!(&m.payload, Some(Payload::ProxyConnRsp(r)) if r.stream_id == "s0" && r.error.is_none())
                );
                assert_eq!(next.stream_id, format!("s{MAX_DIALS_IN_FLIGHT}"));
            }
            other => panic!("{other:?}"),
        }
        // One refused by the runtime: the engine hears why.
        s.stream_finished(
            "s1".into(),
            Err(Refusal::new(ErrorCode::ServiceUnavailable, "queue full")),
        );
        let actions = s.take_actions();
        assert!(matches!(
            sent(&actions)[..],
            [Payload::ProxyConnRsp(r)] if r.stream_id == "s1" && r.error.as_ref().is_some_and(|e| e.message.as_deref() == Some("queue full"))
        ));
        assert_eq!(s.streams(), (MAX_DIALS_IN_FLIGHT, MAX_DIALS_QUEUED - 2));
    }

    #[test]
    fn unknown_and_malformed_messages() {
        let (mut s, t0) = channel();
        s.on_frame(t0, announce("", "t1"));
        assert!(failed(&s.take_actions()).unwrap().is_protocol());

        let (mut s, t0) = channel();
        s.on_frame(t0, Message { payload: None });
        assert!(failed(&s.take_actions()).unwrap().is_protocol());

        // A request the runtime sends is not something the engine may send.
        let (mut s, t0) = channel();
        s.on_frame(t0, frame(CloseTunnelReq::default()));
        assert!(failed(&s.take_actions()).unwrap().is_protocol());

        // A close answer for a tunnel that is not ours is ignored.
        let (mut s, t0) = channel();
        s.on_frame(
            t0,
            frame(CloseTunnelRsp {
                tunnel_id: "zz".into(),
            }),
        );
        assert!(s.take_actions().is_empty());

        let (mut s, t0) = channel();
        s.on_frame(
            t0,
            frame(ServerMessage {
                message: "hello".into(),
            }),
        );
        assert!(matches!(&s.take_actions()[..], [Action::ServerMessage(m)] if m == "hello"));
    }

    #[test]
    fn closing_tunnels_and_the_channel() {
        let (mut s, t0) = channel();
        opened(&mut s, "r1", "t1");
        s.close_tunnel("t1");
        assert!(
            matches!(sent(&s.take_actions())[..], [Payload::CloseTunnelReq(r)] if r.tunnel_id == "t1")
        );
        s.on_frame(
            t0,
            frame(CloseTunnelRsp {
                tunnel_id: "t1".into(),
            }),
        );
        assert!(
            matches!(&s.take_actions()[..], [Action::TunnelClosed { tunnel_id }] if tunnel_id == "t1")
        );
        // Closed: a second close asks nothing.
        s.close_tunnel("t1");
        assert!(s.take_actions().is_empty());

        s.close();
        s.close();
        assert_eq!(sent(&s.take_actions()).len(), 1, "one close request");
        // The engine hangs up after a close request: a clean close.
        s.on_transport_end(Error::Closed("eof".into()));
        assert!(matches!(&s.take_actions()[..], [Action::End(End::Closed)]));
        assert!(
            s.open_tunnel("r2".into(), TunnelProperties::default())
                .is_err()
        );
    }

    #[test]
    fn the_engine_hanging_up_unasked_is_a_retryable_failure() {
        let (mut s, _) = channel();
        opened(&mut s, "r1", "t1");
        s.on_transport_end(Error::Closed("eof".into()));
        let actions = s.take_actions();
        let error = failed(&actions).unwrap();
        assert!(error.is_retryable(), "{error}");
        // The engine's own close answer ends it cleanly instead.
        let (mut s, t0) = channel();
        s.on_frame(t0, frame(proto::CloseControlChannelRsp::default()));
        assert!(matches!(&s.take_actions()[..], [Action::End(End::Closed)]));
    }

    #[test]
    fn liveness_negotiation() {
        let answer = |interval, timeout| {
            Some(ControlChannelLiveness {
                heartbeat_interval_ms: interval,
                heartbeat_timeout_ms: timeout,
            })
        };
        assert_eq!(Liveness::negotiate(None, answer(1000, 3000)).unwrap(), None);
        assert_eq!(Liveness::negotiate(Some(1000), None).unwrap(), None);
        assert_eq!(
            Liveness::negotiate(Some(1000), answer(1000, 3000)).unwrap(),
            Some(Liveness {
                interval: SECOND,
                timeout: 3 * SECOND
            })
        );
        for (interval, timeout) in [
            (2000, 3000),
            (1000, 500),
            (1000, MAX_HEARTBEAT_TIMEOUT_MS + 1),
        ] {
            assert!(Liveness::negotiate(Some(1000), answer(interval, timeout)).is_err());
        }
    }
}
