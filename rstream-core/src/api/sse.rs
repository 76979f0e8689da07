//! A server-sent events parser: bytes in, whole messages out, however the
//! bytes were split into chunks. Pure, no I/O.

use crate::Error;

/// The longest line accepted; a longer one means a broken or hostile peer.
const MAX_LINE: usize = 1024 * 1024;
/// The most data one message may gather.
const MAX_DATA: usize = 4 * 1024 * 1024;

/// One dispatched message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseMessage {
    /// The `event:` field, if any.
    pub(crate) event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub(crate) data: String,
    /// The last `id:` seen on the stream, if any.
    pub(crate) id: Option<String>,
}

/// Incremental parser state.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` opening the next one
    /// belongs to that line ending.
    after_cr: bool,
    started: bool,
    data: String,
    has_data: bool,
    event: Option<String>,
    last_id: Option<String>,
}

impl SseParser {
    /// Feeds one chunk and returns the messages it completed.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Result<Vec<SseMessage>, Error> {
        let mut out = Vec::new();
        for &byte in chunk {
            if self.after_cr {
                self.after_cr = false;
                if byte == b'\n' {
                    continue;
                }
            }
            match byte {
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(message) = self.line_done(&line)? {
                        out.push(message);
                    }
                }
                _ => {
                    if self.line.len() >= MAX_LINE {
                        return Err(Error::protocol("server-sent event line too long"));
                    }
                    self.line.push(byte);
                }
            }
        }
        Ok(out)
    }

    fn line_done(&mut self, line: &[u8]) -> Result<Option<SseMessage>, Error> {
        let mut line = std::str::from_utf8(line)
            .map_err(|_| Error::protocol("server-sent event line is not UTF-8"))?;
        if !self.started {
            self.started = true;
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        if line.starts_with(':') {
            return Ok(None); // a comment (keep-alive)
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.data.len() + value.len() + 1 > MAX_DATA {
                    return Err(Error::protocol("server-sent event too large"));
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            "id" if !value.contains('\0') => self.last_id = Some(value.to_owned()),
            _ => {} // retry and unknown fields
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Option<SseMessage> {
        let event = self.event.take();
        if !self.has_data {
            return None;
        }
        self.has_data = false;
        Some(SseMessage {
            event,
            data: std::mem::take(&mut self.data),
            id: self.last_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> Vec<SseMessage> {
        SseParser::default().feed(input).unwrap()
    }

    fn msg(event: Option<&str>, data: &str, id: Option<&str>) -> SseMessage {
        SseMessage {
            event: event.map(str::to_owned),
            data: data.to_owned(),
            id: id.map(str::to_owned),
        }
    }

    #[test]
    fn basic_messages() {
        let input = b": keep-alive\n\ndata: {\"a\":1}\n\nevent: x\nid: 7\ndata:one\ndata: two\n\n";
        assert_eq!(
            all(input),
            vec![
                msg(None, "{\"a\":1}", None),
                msg(Some("x"), "one\ntwo", Some("7")),
            ]
        );
    }

    #[test]
    fn line_endings() {
        let expected = vec![msg(None, "a", None), msg(None, "b", None)];
        assert_eq!(all(b"data: a\r\n\r\ndata: b\r\n\r\n"), expected);
        assert_eq!(all(b"data: a\r\rdata: b\r\r"), expected);
        assert_eq!(all(b"\xef\xbb\xbfdata: a\n\ndata: b\n\n"), expected);
    }

    #[test]
    fn no_dispatch_without_blank_line_or_data() {
        assert_eq!(all(b"data: a\n"), vec![]);
        assert_eq!(all(b"event: x\n\nid: 3\n\n"), vec![]);
        assert_eq!(all(b"data\n\n"), vec![msg(None, "", None)]);
    }

    #[test]
    fn every_split_gives_the_same_messages() {
        let input: &[u8] =
            b"data: {\"type\":\"tunnel.created\"}\r\n\r\n: ping\n\nevent: e\ndata: x\rdata: y\r\n\n";
        let whole = all(input);
        assert_eq!(whole.len(), 2);
        for cut in 0..=input.len() {
            let mut p = SseParser::default();
            let mut got = p.feed(&input[..cut]).unwrap();
            got.extend(p.feed(&input[cut..]).unwrap());
            assert_eq!(got, whole, "split at {cut}");
        }
        let mut p = SseParser::default();
        let mut got = Vec::new();
        for b in input {
            got.extend(p.feed(std::slice::from_ref(b)).unwrap());
        }
        assert_eq!(got, whole, "byte by byte");
    }

    #[test]
    fn hostile_input() {
        let mut p = SseParser::default();
        assert!(p.feed(&vec![b'a'; MAX_LINE + 1]).unwrap_err().is_protocol());
        let mut p = SseParser::default();
        assert!(p.feed(b"data: \xff\xfe\n").unwrap_err().is_protocol());
    }
}
