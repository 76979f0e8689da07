//! Header names, and building a delivery's headers.

use crate::{Error, EventType, Secret, sign};

/// `rstream-signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256>`.
pub const SIGNATURE_HEADER: &str = "rstream-signature";
/// `rstream-event-id`: the event's id.
pub const EVENT_ID_HEADER: &str = "rstream-event-id";
/// `rstream-event-type`: the event's type, such as `tunnel.created`.
pub const EVENT_TYPE_HEADER: &str = "rstream-event-type";
/// `rstream-webhook-id`: the webhook (subscription) that delivers.
pub const WEBHOOK_ID_HEADER: &str = "rstream-webhook-id";
/// `rstream-delivery-id`: this delivery attempt.
pub const DELIVERY_ID_HEADER: &str = "rstream-delivery-id";

/// What identifies one delivery, besides its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery<'a> {
    /// The event's id.
    pub event_id: &'a str,
    /// The event's type.
    pub event_type: EventType,
    /// The webhook that delivers it.
    pub webhook_id: &'a str,
    /// This delivery attempt.
    pub delivery_id: &'a str,
}

fn header_value(value: &str, what: &'static str) -> Result<String, Error> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        return Err(Error::InvalidHeaderValue(what));
    }
    Ok(value.to_owned())
}

/// Signs `body` and returns the five headers of a delivery, as
/// `(name, value)` pairs in this order: [`SIGNATURE_HEADER`],
/// [`EVENT_ID_HEADER`], [`EVENT_TYPE_HEADER`], [`WEBHOOK_ID_HEADER`],
/// [`DELIVERY_ID_HEADER`].
///
/// Ids are trimmed; an id that is blank or holds characters other than
/// visible ASCII and spaces is refused, so no header can be injected.
///
/// ```
/// use rstream_webhooks::{Delivery, EventType, build_headers};
///
/// let body = br#"{"id":"evt_1","type":"tunnel.created","object":{}}"#;
/// let delivery = Delivery {
///     event_id: "evt_1",
///     event_type: EventType::TunnelCreated,
///     webhook_id: "whk_1",
///     delivery_id: "dlv_1",
/// };
/// let headers = build_headers(body, &"whsec_example".into(), &delivery, 1_790_000_000)?;
/// assert_eq!(headers[2], ("rstream-event-type", "tunnel.created".to_owned()));
/// # Ok::<(), rstream_webhooks::Error>(())
/// ```
pub fn build_headers(
    body: &[u8],
    secret: &Secret,
    delivery: &Delivery<'_>,
    timestamp: u64,
) -> Result<[(&'static str, String); 5], Error> {
    Ok([
        (SIGNATURE_HEADER, sign(body, secret, timestamp)?),
        (
            EVENT_ID_HEADER,
            header_value(delivery.event_id, "event id")?,
        ),
        (EVENT_TYPE_HEADER, delivery.event_type.as_str().to_owned()),
        (
            WEBHOOK_ID_HEADER,
            header_value(delivery.webhook_id, "webhook id")?,
        ),
        (
            DELIVERY_ID_HEADER,
            header_value(delivery.delivery_id, "delivery id")?,
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_trimmed_and_checked() {
        let secret = Secret::new("whsec_x");
        let mut delivery = Delivery {
            event_id: " evt ",
            event_type: EventType::ClientCreated,
            webhook_id: "whk",
            delivery_id: "dlv",
        };
        let headers = build_headers(b"{}", &secret, &delivery, 5).unwrap();
        assert_eq!(headers[0].1, sign(b"{}", &secret, 5).unwrap());
        assert_eq!(headers[1], (EVENT_ID_HEADER, "evt".to_owned()));
        assert_eq!(headers[3], (WEBHOOK_ID_HEADER, "whk".to_owned()));
        assert_eq!(headers[4], (DELIVERY_ID_HEADER, "dlv".to_owned()));
        delivery.webhook_id = " ";
        assert_eq!(
            build_headers(b"{}", &secret, &delivery, 5),
            Err(Error::InvalidHeaderValue("webhook id"))
        );
        delivery.webhook_id = "a\r\nx-evil: 1";
        assert_eq!(
            build_headers(b"{}", &secret, &delivery, 5),
            Err(Error::InvalidHeaderValue("webhook id"))
        );
    }
}
