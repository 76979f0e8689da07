//! Protocol 1.4.5: messages and the frame codec, free of I/O.
//!
//! A frame is a 4-byte big-endian length followed by that many bytes of a
//! protobuf-encoded [`Message`]. Frames longer than [`MAX_FRAME_LEN`] are a
//! protocol error in both directions.
//!
//! ```
//! use bytes::BytesMut;
//! use rstream_core::proto::{self, Heartbeat, Message};
//!
//! let mut buf = BytesMut::new();
//! proto::encode_frame(&Message::from(Heartbeat { sequence: 1, acknowledgement: 0 }), &mut buf)?;
//! let decoded = proto::decode_frame(&mut buf)?.expect("a whole frame");
//! assert_eq!(decoded, Message::from(Heartbeat { sequence: 1, acknowledgement: 0 }));
//! assert!(buf.is_empty());
//! # Ok::<(), rstream_core::Error>(())
//! ```

mod messages;

pub use messages::*;

use bytes::{Buf, BufMut, BytesMut};
use prost::Message as _;

/// A frame that cannot be encoded or decoded: too large, or not a valid
/// protocol message. Converts into [`Error::Protocol`](crate::Error::Protocol)
/// with `?`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FrameError(String);

type CrateError = FrameError;

/// The protocol version this runtime speaks.
pub const PROTOCOL_VERSION: &str = "1.4.5";

/// The ALPN protocol identifier of the rstream wire protocol, offered by
/// runtimes and chosen by engines on every TLS connection.
pub const ALPN: &[u8] = b"rstrm/1";

/// The largest frame body, in bytes, either side may send.
pub const MAX_FRAME_LEN: usize = 65_535;

/// Length of the frame header.
pub const FRAME_HEADER_LEN: usize = 4;

/// Appends one frame holding `message` to `dst`.
///
/// Fails with a [`FrameError`] and leaves `dst` untouched when the encoded
/// message is longer than [`MAX_FRAME_LEN`].
pub fn encode_frame(message: &Message, dst: &mut BytesMut) -> Result<(), CrateError> {
    let len = message.encoded_len();
    if len > MAX_FRAME_LEN {
        return Err(FrameError(format!(
            "refusing to send a {len}-byte frame: the limit is {MAX_FRAME_LEN} bytes"
        )));
    }
    dst.reserve(FRAME_HEADER_LEN + len);
    dst.put_u32(len as u32);
    message
        .encode(dst)
        .map_err(|e| FrameError(format!("cannot encode frame: {e}")))
}

/// Encodes one frame holding `message` into a fresh buffer.
pub fn frame_bytes(message: &Message) -> Result<BytesMut, CrateError> {
    let mut buf = BytesMut::new();
    encode_frame(message, &mut buf)?;
    Ok(buf)
}

/// Reads the length of the frame at the start of `src`, if the header is there.
///
/// Fails when the announced length is over [`MAX_FRAME_LEN`].
pub fn peek_frame_len(src: &[u8]) -> Result<Option<usize>, CrateError> {
    let Some(header) = src.get(..FRAME_HEADER_LEN) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    if len > MAX_FRAME_LEN {
        return Err(FrameError(format!(
            "received a frame announcing {len} bytes: the limit is {MAX_FRAME_LEN} bytes"
        )));
    }
    Ok(Some(len))
}

/// Takes one whole frame from the front of `src` and decodes it.
///
/// Returns `Ok(None)` when `src` does not yet hold a whole frame (nothing is
/// consumed), an error for an oversize or undecodable frame. Bytes after the
/// frame stay in `src`: on a stream connection they belong to the application.
pub fn decode_frame(src: &mut BytesMut) -> Result<Option<Message>, CrateError> {
    let Some(len) = peek_frame_len(src)? else {
        return Ok(None);
    };
    if src.len() < FRAME_HEADER_LEN + len {
        src.reserve(FRAME_HEADER_LEN + len - src.len());
        return Ok(None);
    }
    src.advance(FRAME_HEADER_LEN);
    let body = src.split_to(len);
    Message::decode(body.freeze())
        .map(Some)
        .map_err(|e| FrameError(format!("malformed frame: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_frames_need_more() {
        let whole = frame_bytes(&Message::from(ServerMessage {
            message: "hello".into(),
        }))
        .unwrap();
        for cut in 0..whole.len() {
            let mut part = BytesMut::from(&whole[..cut]);
            assert_eq!(decode_frame(&mut part).unwrap(), None, "cut at {cut}");
            assert_eq!(&part[..], &whole[..cut], "nothing consumed at {cut}");
        }
    }

    #[test]
    fn trailing_bytes_are_kept() {
        let mut buf = frame_bytes(&Message::from(ProxyRsp { error: None })).unwrap();
        buf.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let msg = decode_frame(&mut buf).unwrap().unwrap();
        assert!(matches!(msg.payload, Some(message::Payload::ProxyRsp(_))));
        assert_eq!(&buf[..], b"GET / HTTP/1.1\r\n");
    }

    #[test]
    fn oversize_frames_are_refused_both_ways() {
        let big = Message::from(ServerMessage {
            message: "x".repeat(MAX_FRAME_LEN),
        });
        let mut out = BytesMut::new();
        assert!(
            encode_frame(&big, &mut out)
                .unwrap_err()
                .to_string()
                .contains("limit")
        );
        assert!(out.is_empty());

        let mut header = BytesMut::new();
        header.put_u32(MAX_FRAME_LEN as u32 + 1);
        assert!(
            decode_frame(&mut header)
                .unwrap_err()
                .to_string()
                .contains("limit")
        );

        // Exactly at the limit is fine.
        let at_limit = (MAX_FRAME_LEN - 16..MAX_FRAME_LEN)
            .map(|n| {
                Message::from(ServerMessage {
                    message: "x".repeat(n),
                })
            })
            .find(|m| m.encoded_len() == MAX_FRAME_LEN)
            .expect("some text length encodes to exactly the limit");
        let mut buf = frame_bytes(&at_limit).unwrap();
        assert_eq!(decode_frame(&mut buf).unwrap(), Some(at_limit));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut buf = BytesMut::from(&[0u8, 0, 0, 3, 0xff, 0xff, 0xff][..]);
        assert!(
            decode_frame(&mut buf)
                .unwrap_err()
                .to_string()
                .contains("malformed")
        );
        // A pseudo-random sweep over short inputs.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 24) as usize;
            let mut bytes = vec![0u8, 0, 0, len as u8];
            let mut s = seed;
            for _ in 0..len {
                s = s.rotate_left(9).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                bytes.push(s as u8);
            }
            let mut buf = BytesMut::from(&bytes[..]);
            let _ = decode_frame(&mut buf);
        }
    }

    #[test]
    fn secrets_are_not_in_debug() {
        let details = ClientDetails {
            token: Some("tok_supersecret".into()),
            ..Default::default()
        };
        let req = ProxyConnReq {
            secret: Some("sec_supersecret".into()),
            ..Default::default()
        };
        let text = format!("{details:?} {req:?} {:?}", Message::from(req.clone()));
        assert!(!text.contains("supersecret"), "{text}");
        assert!(text.contains("redacted"));
    }
}
