//! The filesystem sidecar client: list, read, write, delete and make
//! directories on a WebTTY server that advertises `fs`, over WebDAV at the
//! advertised path, through the same connection and credentials as
//! commands.

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use quick_xml::events::Event as XmlEvent;

use crate::discovery::Capability;
use crate::{Endpoint, Error, ServerInfo};

/// Default bound on a file read.
pub const DEFAULT_READ_LIMIT: usize = 256 * 1024 * 1024;

const PROPFIND_BODY: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?><propfind xmlns=\"DAV:\"><prop><resourcetype/><getcontentlength/><getlastmodified/></prop></propfind>";

/// A file or a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
}

/// One item of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its path under the shared directory, starting with `/`.
    pub path: String,
    /// File or directory.
    pub kind: EntryKind,
    /// Size in bytes (files).
    pub size: Option<u64>,
    /// Last modification, as the server wrote it (an HTTP date).
    pub modified: Option<String>,
}

/// The filesystem sidecar of a WebTTY server.
#[derive(Debug, Clone)]
pub struct FileSystem {
    endpoint: Endpoint,
    root: String,
    read_limit: usize,
}

impl FileSystem {
    /// The sidecar at `fs_path` (the `rstream.webtty.fs.path` label,
    /// `/fs` by default) of the server `endpoint` reaches.
    pub fn new(endpoint: Endpoint, fs_path: &str) -> FileSystem {
        let trimmed = fs_path.trim().trim_end_matches('/');
        let root = if trimmed.starts_with('/') {
            trimmed.to_owned()
        } else {
            format!("/{trimmed}")
        };
        FileSystem {
            endpoint,
            root,
            read_limit: DEFAULT_READ_LIMIT,
        }
    }

    /// The sidecar of a discovered server, or [`Error::Discovery`] when it
    /// does not advertise `fs`.
    pub fn for_server(server: &ServerInfo, endpoint: Endpoint) -> Result<FileSystem, Error> {
        if !server.has(Capability::Fs) {
            return Err(Error::Discovery(format!(
                "{} does not offer a filesystem",
                server.target
            )));
        }
        Ok(FileSystem::new(
            endpoint,
            server.fs_path.as_deref().unwrap_or(crate::FS_PATH),
        ))
    }

    /// Bound on [`FileSystem::read`] (default 256 MiB).
    pub fn read_limit(mut self, bytes: usize) -> FileSystem {
        self.read_limit = bytes;
        self
    }

    /// The entries of directory `path` (not the directory itself).
    pub async fn list(&self, path: &str) -> Result<Vec<Entry>, Error> {
        let own = normalize(path);
        let entries = self.propfind("list", path, "1").await?;
        Ok(entries
            .into_iter()
            .filter(|e| e.path.trim_end_matches('/') != own.trim_end_matches('/'))
            .collect())
    }

    /// What `path` is.
    pub async fn stat(&self, path: &str) -> Result<Entry, Error> {
        self.propfind("stat", path, "0")
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Filesystem {
                operation: "stat",
                status: 207,
                message: format!("the server did not describe {path}"),
            })
    }

    /// The contents of file `path`.
    pub async fn read(&self, path: &str) -> Result<Vec<u8>, Error> {
        let (status, body) = self
            .request("read", Method::GET, path, &[], Bytes::new())
            .await?;
        expect("read", status, &[StatusCode::OK], &body)?;
        Ok(body.to_vec())
    }

    /// Writes `bytes` to file `path`, creating or replacing it.
    pub async fn write(&self, path: &str, bytes: impl Into<Bytes>) -> Result<(), Error> {
        let (status, body) = self
            .request(
                "write",
                Method::PUT,
                path,
                &[("content-type", "application/octet-stream")],
                bytes.into(),
            )
            .await?;
        expect(
            "write",
            status,
            &[StatusCode::OK, StatusCode::CREATED, StatusCode::NO_CONTENT],
            &body,
        )
    }

    /// Deletes file or directory `path` (a directory with its contents).
    pub async fn delete(&self, path: &str) -> Result<(), Error> {
        let (status, body) = self
            .request("delete", Method::DELETE, path, &[], Bytes::new())
            .await?;
        expect(
            "delete",
            status,
            &[StatusCode::OK, StatusCode::NO_CONTENT],
            &body,
        )
    }

    /// Makes directory `path` (its parent must exist).
    pub async fn mkdir(&self, path: &str) -> Result<(), Error> {
        let method = Method::from_bytes(b"MKCOL").map_err(|_| Error::Closed)?;
        let (status, body) = self
            .request("mkdir", method, path, &[], Bytes::new())
            .await?;
        expect("mkdir", status, &[StatusCode::CREATED], &body)
    }

    async fn propfind(
        &self,
        operation: &'static str,
        path: &str,
        depth: &str,
    ) -> Result<Vec<Entry>, Error> {
        let method = Method::from_bytes(b"PROPFIND").map_err(|_| Error::Closed)?;
        let (status, body) = self
            .request(
                operation,
                method,
                path,
                &[
                    ("depth", depth),
                    ("content-type", "application/xml; charset=utf-8"),
                ],
                Bytes::from_static(PROPFIND_BODY.as_bytes()),
            )
            .await?;
        expect(operation, status, &[StatusCode::MULTI_STATUS], &body)?;
        let text = std::str::from_utf8(&body).map_err(|_| Error::Filesystem {
            operation,
            status: status.as_u16(),
            message: "the listing is not UTF-8".to_owned(),
        })?;
        parse_multistatus(text, &self.root).map_err(|message| Error::Filesystem {
            operation,
            status: status.as_u16(),
            message,
        })
    }

    async fn request(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), Error> {
        let (io, url) = self.endpoint.connect_io().await?;
        let uri: http::Uri = url
            .parse()
            .map_err(|_| Error::Config("invalid WebTTY URL".to_owned()))?;
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        let encoded: String = normalize(path)
            .split('/')
            .map(|part| {
                percent_encoding::utf8_percent_encode(part, crate::URL_COMPONENT).to_string()
            })
            .collect::<Vec<_>>()
            .join("/");
        let mut target = format!("{}{}", self.root, encoded);
        if let Some(query) = uri.query() {
            target.push('?');
            target.push_str(query);
        }
        let mut request = Request::builder()
            .method(method)
            .uri(target)
            .header("host", authority)
            .header("content-length", body.len());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(value) = self.endpoint.authorization()? {
            request = request.header("authorization", value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| Error::Config(format!("invalid filesystem request: {e}")))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
                .await
                .map_err(|e| http_error(operation, e))?;
        let driver = tokio::spawn(connection);
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| http_error(operation, e))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), self.read_limit)
            .collect()
            .await
            .map_err(|_| Error::Filesystem {
                operation,
                status: status.as_u16(),
                message: format!("the response passes the {}-byte limit", self.read_limit),
            })?
            .to_bytes();
        driver.abort();
        Ok((status, body))
    }
}

fn http_error(operation: &'static str, e: hyper::Error) -> Error {
    Error::Filesystem {
        operation,
        status: 0,
        message: e.to_string(),
    }
}

/// `path` as `/a/b` (no trailing slash, no empty or `.` parts).
fn normalize(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

fn expect(
    operation: &'static str,
    status: StatusCode,
    ok: &[StatusCode],
    body: &[u8],
) -> Result<(), Error> {
    if ok.contains(&status) {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)])
        .trim()
        .to_owned();
    Err(Error::Filesystem {
        operation,
        status: status.as_u16(),
        message: if text.is_empty() {
            status.canonical_reason().unwrap_or("").to_owned()
        } else {
            text
        },
    })
}

/// The entries of a WebDAV multistatus whose `200` propstat is present,
/// with paths relative to `root` (namespace prefixes ignored).
fn parse_multistatus(xml: &str, root: &str) -> Result<Vec<Entry>, String> {
    #[derive(Default)]
    struct Current {
        href: String,
        ok: bool,
        directory: bool,
        size: Option<u64>,
        modified: Option<String>,
    }
    #[derive(Default)]
    struct Prop {
        status: String,
        directory: bool,
        size_text: String,
        modified: Option<String>,
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Text {
        None,
        Href,
        Status,
        Length,
        Modified,
    }
    fn push_text(text: Text, value: &str, current: Option<&mut Current>, prop: Option<&mut Prop>) {
        match (text, current, prop) {
            (Text::Href, Some(c), _) => c.href.push_str(value),
            (Text::Status, _, Some(p)) => p.status.push_str(value),
            (Text::Length, _, Some(p)) => p.size_text.push_str(value),
            (Text::Modified, _, Some(p)) => {
                p.modified.get_or_insert_with(String::new).push_str(value)
            }
            _ => {}
        }
    }
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    let mut current: Option<Current> = None;
    let mut prop: Option<Prop> = None;
    let mut text = Text::None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("the listing is not XML: {e}"))?;
        match event {
            XmlEvent::Start(e) | XmlEvent::Empty(e) => {
                let name = e.local_name();
                match name.as_ref() {
                    b"response" => current = Some(Current::default()),
                    b"propstat" => prop = Some(Prop::default()),
                    b"collection" => {
                        if let Some(p) = prop.as_mut() {
                            p.directory = true;
                        }
                    }
                    b"href" => text = Text::Href,
                    b"status" => text = Text::Status,
                    b"getcontentlength" => text = Text::Length,
                    b"getlastmodified" => text = Text::Modified,
                    _ => text = Text::None,
                }
            }
            XmlEvent::Text(t) => {
                let value = t
                    .decode()
                    .map_err(|e| format!("the listing is not XML: {e}"))?;
                let value = quick_xml::escape::unescape(&value)
                    .map_err(|e| format!("the listing is not XML: {e}"))?;
                push_text(text, &value, current.as_mut(), prop.as_mut());
            }
            XmlEvent::GeneralRef(r) => {
                // `&amp;`, `&#x2F;`, ...: the character it stands for.
                let name = r
                    .decode()
                    .map_err(|e| format!("the listing is not XML: {e}"))?;
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| format!("unknown XML entity &{name};"))?
                        .to_owned(),
                };
                push_text(text, &resolved, current.as_mut(), prop.as_mut());
            }
            XmlEvent::End(e) => {
                text = Text::None;
                match e.local_name().as_ref() {
                    b"propstat" => {
                        if let (Some(p), Some(c)) = (prop.take(), current.as_mut()) {
                            if p.status.contains(" 200 ") && !c.ok {
                                c.ok = true;
                                c.directory = p.directory;
                                c.size = p.size_text.trim().parse().ok();
                                c.modified = p.modified.map(|m| m.trim().to_owned());
                            }
                        }
                    }
                    b"response" => {
                        if let Some(c) = current.take().filter(|c| c.ok) {
                            out.push(Entry {
                                path: href_path(c.href.trim(), root),
                                kind: if c.directory {
                                    EntryKind::Directory
                                } else {
                                    EntryKind::File
                                },
                                size: if c.directory { None } else { c.size },
                                modified: c.modified,
                            });
                        }
                    }
                    _ => {}
                }
            }
            XmlEvent::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// An href's path, decoded, under `root` (`/` for the root itself).
fn href_path(href: &str, root: &str) -> String {
    // Absolute URLs: keep the path.
    let path = match href.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => href,
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_or_else(|_| path.to_owned(), |c| c.into_owned());
    let rest = decoded
        .strip_prefix(root)
        .filter(|r| r.is_empty() || r.starts_with('/'))
        .unwrap_or(&decoded);
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        "/".to_owned()
    } else {
        rest.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multistatus_like_the_references_parse() {
        // Prefixed and unprefixed namespaces, a 404 propstat ignored, an
        // escaped and percent-encoded name.
        let xml = r#"<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:">
  <d:response><d:href>/dav/</d:href>
    <d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype></d:prop>
      <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
  <response xmlns="DAV:"><href>/dav/file.txt</href>
    <propstat><prop><getcontentlength>12</getcontentlength>
      <getlastmodified>today</getlastmodified><resourcetype/></prop>
      <status>HTTP/1.1 200 OK</status></propstat>
    <propstat><prop><quota/></prop><status>HTTP/1.1 404 Not Found</status></propstat></response>
  <d:response><d:href>http://h/dav/a%20&amp;%20b/</d:href>
    <d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype></d:prop>
      <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
  <d:response><d:href>/dav/gone</d:href>
    <d:propstat><d:prop/><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response>
</d:multistatus>"#;
        let entries = parse_multistatus(xml, "/dav").unwrap();
        assert_eq!(
            entries,
            [
                Entry {
                    path: "/".into(),
                    kind: EntryKind::Directory,
                    size: None,
                    modified: None
                },
                Entry {
                    path: "/file.txt".into(),
                    kind: EntryKind::File,
                    size: Some(12),
                    modified: Some("today".into())
                },
                Entry {
                    path: "/a & b".into(),
                    kind: EntryKind::Directory,
                    size: None,
                    modified: None
                },
            ]
        );
        assert!(parse_multistatus("<a><b></a>", "/dav").is_err());
    }

    #[test]
    fn paths_normalize() {
        assert_eq!(normalize(""), "/");
        assert_eq!(normalize("a//b/./c/"), "/a/b/c");
        assert_eq!(href_path("/fs", "/fs"), "/");
        assert_eq!(href_path("/fs/x%2Fy", "/fs"), "/x/y");
        assert_eq!(href_path("/fsother/x", "/fs"), "/fsother/x");
    }
}
