//! The verified event and its type.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Error;

/// The kind of an event; only deliverable kinds are accepted.
///
/// The `webtty.*` kinds are those the JavaScript SDK's event schema accepts
/// for webhooks. The official Python SDK (0.7.0) knows only the four
/// `client.*`/`tunnel.*` kinds and refuses a `webtty.*` delivery; the Go
/// SDK has no list. The kinds the JavaScript schema reserves and refuses
/// (`webtty.control.takeover`, `webtty.key_grant.*`, `webtty.policy.decision`,
/// `webtty.recording.*`) are refused here too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum EventType {
    /// `client.created`: a client connected to the engine.
    #[serde(rename = "client.created")]
    ClientCreated,
    /// `client.deleted`: a client went away.
    #[serde(rename = "client.deleted")]
    ClientDeleted,
    /// `tunnel.created`: a tunnel was opened.
    #[serde(rename = "tunnel.created")]
    TunnelCreated,
    /// `tunnel.deleted`: a tunnel was closed.
    #[serde(rename = "tunnel.deleted")]
    TunnelDeleted,
    /// `webtty.session.created`: a WebTTY session opened (`object` is the session).
    #[serde(rename = "webtty.session.created")]
    WebttySessionCreated,
    /// `webtty.session.updated`: a WebTTY session or session group changed (`object` is either).
    #[serde(rename = "webtty.session.updated")]
    WebttySessionUpdated,
    /// `webtty.session.ended`: a WebTTY session ended (`object` is the session, with its exit code or error).
    #[serde(rename = "webtty.session.ended")]
    WebttySessionEnded,
    /// `webtty.participant.joined`: someone attached to a WebTTY session (`object` is the participant).
    #[serde(rename = "webtty.participant.joined")]
    WebttyParticipantJoined,
    /// `webtty.participant.updated`: a participant's role or state changed.
    #[serde(rename = "webtty.participant.updated")]
    WebttyParticipantUpdated,
    /// `webtty.participant.left`: a participant detached.
    #[serde(rename = "webtty.participant.left")]
    WebttyParticipantLeft,
    /// `webtty.control.requested`: a participant asked for control of a session (`object` is the control request).
    #[serde(rename = "webtty.control.requested")]
    WebttyControlRequested,
    /// `webtty.control.granted`: a control request was granted.
    #[serde(rename = "webtty.control.granted")]
    WebttyControlGranted,
    /// `webtty.control.refused`: a control request was refused.
    #[serde(rename = "webtty.control.refused")]
    WebttyControlRefused,
    /// `webtty.control.revoked`: granted control was taken back.
    #[serde(rename = "webtty.control.revoked")]
    WebttyControlRevoked,
}

impl EventType {
    /// Every deliverable type, in a stable order.
    pub const ALL: [EventType; 14] = [
        EventType::ClientCreated,
        EventType::ClientDeleted,
        EventType::TunnelCreated,
        EventType::TunnelDeleted,
        EventType::WebttySessionCreated,
        EventType::WebttySessionUpdated,
        EventType::WebttySessionEnded,
        EventType::WebttyParticipantJoined,
        EventType::WebttyParticipantUpdated,
        EventType::WebttyParticipantLeft,
        EventType::WebttyControlRequested,
        EventType::WebttyControlGranted,
        EventType::WebttyControlRefused,
        EventType::WebttyControlRevoked,
    ];

    /// Whether this is one of the `webtty.*` kinds.
    pub fn is_webtty(self) -> bool {
        self.as_str().starts_with("webtty.")
    }

    /// The wire name, such as `tunnel.created`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ClientCreated => "client.created",
            EventType::ClientDeleted => "client.deleted",
            EventType::TunnelCreated => "tunnel.created",
            EventType::TunnelDeleted => "tunnel.deleted",
            EventType::WebttySessionCreated => "webtty.session.created",
            EventType::WebttySessionUpdated => "webtty.session.updated",
            EventType::WebttySessionEnded => "webtty.session.ended",
            EventType::WebttyParticipantJoined => "webtty.participant.joined",
            EventType::WebttyParticipantUpdated => "webtty.participant.updated",
            EventType::WebttyParticipantLeft => "webtty.participant.left",
            EventType::WebttyControlRequested => "webtty.control.requested",
            EventType::WebttyControlGranted => "webtty.control.granted",
            EventType::WebttyControlRefused => "webtty.control.refused",
            EventType::WebttyControlRevoked => "webtty.control.revoked",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = Error;

    /// Parses a wire name; the match is exact (no trimming, no case folding).
    fn from_str(s: &str) -> Result<Self, Error> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or(Error::InvalidEvent("type is not a deliverable event type"))
    }
}

/// A webhook event whose signature has been checked.
///
/// Deserializing checks the same rules as verification (`id` and `type`
/// required, `type` deliverable, `object` a JSON object, the optional fields
/// strings or null); serializing writes [`WebhookEvent::raw`] back unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct WebhookEvent {
    /// Event id (`id`), trimmed of surrounding whitespace; the same id is
    /// sent again when a delivery is retried, so use it for idempotency.
    pub id: String,
    /// Event type (`type`).
    pub event_type: EventType,
    /// When the event happened (`created_at`), as sent (RFC 3339).
    pub created_at: Option<String>,
    /// User the event belongs to (`user_id`).
    pub user_id: Option<String>,
    /// Workspace the event belongs to (`workspace_id`).
    pub workspace_id: Option<String>,
    /// Project the event belongs to (`project_id`).
    pub project_id: Option<String>,
    /// Cluster the event happened on (`cluster_id`).
    pub cluster_id: Option<String>,
    /// The client or tunnel the event is about (`object`).
    pub object: Map<String, Value>,
    /// The whole payload as received, for fields this type does not name.
    pub raw: Value,
}

impl WebhookEvent {
    /// Parses and checks an event from the raw body. This does not verify a
    /// signature: use [`Verifier::verify`](crate::Verifier::verify) for bodies
    /// from the network.
    pub fn from_slice(body: &[u8]) -> Result<Self, Error> {
        let value: Value = serde_json::from_slice(body).map_err(|e| Error::InvalidJson {
            line: e.line(),
            column: e.column(),
        })?;
        WebhookEvent::try_from(value)
    }
}

fn optional_string(map: &Map<String, Value>, field: &'static str) -> Result<Option<String>, Error> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::InvalidEvent(match field {
            "created_at" => "created_at must be a string",
            "user_id" => "user_id must be a string",
            "workspace_id" => "workspace_id must be a string",
            "project_id" => "project_id must be a string",
            _ => "cluster_id must be a string",
        })),
    }
}

impl TryFrom<Value> for WebhookEvent {
    type Error = Error;

    fn try_from(raw: Value) -> Result<Self, Error> {
        let Value::Object(map) = &raw else {
            return Err(Error::InvalidEvent("payload must be a JSON object"));
        };
        let id = match map.get("id") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
            _ => return Err(Error::InvalidEvent("id is required")),
        };
        let event_type = match map.get("type") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.parse::<EventType>()?,
            _ => return Err(Error::InvalidEvent("type is required")),
        };
        let created_at = optional_string(map, "created_at")?;
        let object = match map.get("object") {
            Some(Value::Object(object)) => object.clone(),
            _ => {
                return Err(Error::InvalidEvent(
                    "object is required and must be a JSON object",
                ));
            }
        };
        Ok(WebhookEvent {
            id,
            event_type,
            created_at,
            user_id: optional_string(map, "user_id")?,
            workspace_id: optional_string(map, "workspace_id")?,
            project_id: optional_string(map, "project_id")?,
            cluster_id: optional_string(map, "cluster_id")?,
            object,
            raw,
        })
    }
}

impl From<WebhookEvent> for Value {
    fn from(event: WebhookEvent) -> Value {
        event.raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<WebhookEvent, Error> {
        WebhookEvent::try_from(value)
    }

    #[test]
    fn full_event_parses() {
        let raw = json!({
            "id": " evt_1 ", "type": "client.deleted", "created_at": "2026-11-22T10:00:00Z",
            "user_id": "usr", "workspace_id": "wsp", "project_id": "prj", "cluster_id": null,
            "object": {"id": "cli_1"}, "extra": 1
        });
        let event = parse(raw.clone()).unwrap();
        assert_eq!(event.id, "evt_1");
        assert_eq!(event.event_type, EventType::ClientDeleted);
        assert_eq!(event.created_at.as_deref(), Some("2026-11-22T10:00:00Z"));
        assert_eq!(event.user_id.as_deref(), Some("usr"));
        assert_eq!(event.workspace_id.as_deref(), Some("wsp"));
        assert_eq!(event.project_id.as_deref(), Some("prj"));
        assert_eq!(event.cluster_id, None);
        assert_eq!(event.object["id"], "cli_1");
        assert_eq!(event.raw, raw);
        assert_eq!(serde_json::to_value(&event).unwrap(), raw);
        let back: WebhookEvent = serde_json::from_value(raw).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn every_type_round_trips() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), t);
            assert_eq!(serde_json::to_value(t).unwrap(), json!(t.as_str()));
            assert_eq!(t.to_string(), t.as_str());
        }
    }

    #[test]
    fn webtty_kinds_are_accepted_and_reserved_ones_refused() {
        let webtty: Vec<_> = EventType::ALL
            .into_iter()
            .filter(|t| t.is_webtty())
            .collect();
        assert_eq!(webtty.len(), 10);
        let event = parse(json!({
            "id": "event-1", "type": "webtty.control.requested",
            "created_at": "2026-06-09T12:00:00Z", "workspace_id": "workspace-1",
            "object": {"id": "request-1", "session_id": "session-1",
                       "requester_participant_id": "participant-1", "status": "pending"}
        }))
        .unwrap();
        assert_eq!(event.event_type, EventType::WebttyControlRequested);
        assert_eq!(event.object["session_id"], "session-1");
        for reserved in [
            "webtty.control.takeover",
            "webtty.key_grant.created",
            "webtty.key_grant.revoked",
            "webtty.policy.decision",
            "webtty.recording.available",
            "webtty.recording.unavailable",
            "webtty.session",
        ] {
            let err = parse(json!({"id": "e", "type": reserved, "object": {}})).unwrap_err();
            assert!(matches!(err, Error::InvalidEvent(_)), "{reserved}");
        }
        assert!(!EventType::TunnelCreated.is_webtty());
    }

    #[test]
    fn invalid_events_are_refused() {
        let cases = [
            json!([1]),
            json!({"type": "tunnel.created", "object": {}}),
            json!({"id": "  ", "type": "tunnel.created", "object": {}}),
            json!({"id": 5, "type": "tunnel.created", "object": {}}),
            json!({"id": "e", "object": {}}),
            json!({"id": "e", "type": "tunnel.updated", "object": {}}),
            json!({"id": "e", "type": " tunnel.created", "object": {}}),
            json!({"id": "e", "type": "tunnel.created"}),
            json!({"id": "e", "type": "tunnel.created", "object": []}),
            json!({"id": "e", "type": "tunnel.created", "object": {}, "created_at": 1}),
            json!({"id": "e", "type": "tunnel.created", "object": {}, "cluster_id": {}}),
        ];
        for case in cases {
            let err = parse(case.clone()).unwrap_err();
            assert!(matches!(err, Error::InvalidEvent(_)), "{case}: {err:?}");
        }
    }

    #[test]
    fn json_errors_do_not_echo_the_body() {
        let err = WebhookEvent::from_slice(b"not json, secret-ish").unwrap_err();
        assert_eq!(err, Error::InvalidJson { line: 1, column: 2 });
        assert!(!err.to_string().contains("secret"));
    }
}
