//! A minimal HTTP/1.1 client for the edge, so a user's test can request
//! their app through the engine without bringing an HTTP client along.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Error;

/// An HTTP response read through the local engine's edge
/// ([`LocalEngine::get`](crate::LocalEngine::get),
/// [`LocalEngine::request`](crate::LocalEngine::request)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeResponse {
    /// The status code, like 200.
    pub status: u16,
    /// The header fields in the order received (names as sent).
    pub headers: Vec<(String, String)>,
    /// The body, with any chunked transfer coding removed.
    pub body: Vec<u8>,
}

impl EdgeResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The hostname in a forwarding address (`https://web.localhost:443`), a
/// URL, or a bare `host[:port]`.
pub(crate) fn hostname(target: &str) -> &str {
    let rest = target.split_once("://").map_or(target, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// Sends one request with `Connection: close` on a new edge connection and
/// reads the whole response.
pub(crate) async fn send(
    edge: std::net::SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<EdgeResponse, Error> {
    let mut conn = TcpStream::connect(edge)
        .await
        .map_err(|e| Error::io("connecting to the edge", e))?;
    let path = if path.starts_with('/') { path } else { "/" };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())
        .await
        .map_err(|e| Error::io("sending the request", e))?;
    conn.write_all(body)
        .await
        .map_err(|e| Error::io("sending the request", e))?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw)
        .await
        .map_err(|e| Error::io("reading the response", e))?;
    parse(&raw)
}

fn parse(raw: &[u8]) -> Result<EdgeResponse, Error> {
    let bad = |why: &str| Error::Protocol(format!("bad HTTP response from the edge: {why}"));
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of head"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad("no status code"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut response = EdgeResponse {
        status,
        headers,
        body: Vec::new(),
    };
    let rest = &raw[end + 4..];
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    response.body = if chunked {
        dechunk(rest).ok_or_else(|| bad("malformed chunked body"))?
    } else if let Some(len) = response.header("content-length") {
        let len: usize = len.parse().map_err(|_| bad("bad content-length"))?;
        rest.get(..len)
            .ok_or_else(|| bad("body cut short"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(response)
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        assert_eq!(hostname("https://web.localhost:4433"), "web.localhost");
        assert_eq!(hostname("http://web.localhost/x"), "web.localhost");
        assert_eq!(hostname("web.localhost:80"), "web.localhost");
        assert_eq!(hostname("web.localhost"), "web.localhost");
    }

    #[test]
    fn parses_lengths_and_chunks() {
        let r =
            parse(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-A: b\r\n\r\nhiEXTRA").unwrap();
        assert_eq!(
            (r.status, r.text().as_str(), r.header("x-a")),
            (201, "hi", Some("b"))
        );
        let r = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!(r.text(), "abcde");
        let r = parse(b"HTTP/1.0 200 OK\r\n\r\nuntil close").unwrap();
        assert_eq!(r.text(), "until close");
    }

    #[test]
    fn garbage_is_an_error() {
        for raw in [
            &b""[..],
            b"HTTP/1.1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ] {
            assert!(matches!(parse(raw), Err(Error::Protocol(_))), "{raw:?}");
        }
    }
}
