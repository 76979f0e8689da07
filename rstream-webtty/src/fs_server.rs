//! The filesystem sidecar a [`crate::Server`] serves at `/fs`: the WebDAV
//! subset the references' clients use (PROPFIND with depth 0 or 1, GET,
//! PUT, DELETE, MKCOL) over one directory, optionally read-only.

use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};

/// Where the sidecar is mounted.
pub const FS_PATH: &str = "/fs";
/// Largest upload (the references' default, 64 MiB).
pub const FS_MAX_UPLOAD: usize = 64 * 1024 * 1024;

/// A response body: bytes in memory or a file read as it is sent.
pub(crate) type Body = BoxBody<Bytes, std::io::Error>;

pub(crate) fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response
}

/// The directory served, and whether writes are refused.
#[derive(Debug, Clone)]
pub(crate) struct Sidecar {
    pub(crate) root: PathBuf,
    pub(crate) read_only: bool,
}

/// `/fs/<path>` to a path under the root, refusing `..` and anything that
/// is not a plain component.
fn local_path(root: &Path, request_path: &str) -> Option<PathBuf> {
    let rest = request_path.strip_prefix(FS_PATH)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(rest)
        .decode_utf8()
        .ok()?
        .into_owned();
    if decoded.contains('\0') {
        return None;
    }
    let mut out = root.to_path_buf();
    for component in Path::new(&decoded).components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => out.push(part),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Whether `path` (existing or not) stays inside `root` once symbolic
/// links are resolved.
fn inside(root: &Path, path: &Path) -> bool {
    let Ok(root) = root.canonicalize() else {
        return false;
    };
    // The deepest existing ancestor decides.
    let mut probe = path.to_path_buf();
    loop {
        if let Ok(real) = probe.canonicalize() {
            return real.starts_with(&root);
        }
        if !probe.pop() {
            return false;
        }
    }
}

impl Sidecar {
    pub(crate) async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        let Some(path) = local_path(&self.root, request.uri().path()) else {
            return full(StatusCode::BAD_REQUEST, "invalid path\n");
        };
        if !inside(&self.root, &path) {
            return full(StatusCode::FORBIDDEN, "outside the shared directory\n");
        }
        let method = request.method().clone();
        let writes = matches!(
            method.as_str(),
            "PUT"
                | "DELETE"
                | "MKCOL"
                | "MOVE"
                | "COPY"
                | "PROPPATCH"
                | "LOCK"
                | "UNLOCK"
                | "POST"
                | "PATCH"
        );
        if writes && self.read_only {
            return full(StatusCode::FORBIDDEN, "the filesystem is read-only\n");
        }
        let result = match method.as_str() {
            "PROPFIND" => {
                let depth = request
                    .headers()
                    .get("depth")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("1")
                    .trim()
                    .to_owned();
                self.propfind(request.uri().path(), &path, depth != "0")
                    .await
            }
            "GET" | "HEAD" => get(&path, method == Method::HEAD).await,
            "PUT" => put(&path, request).await,
            "DELETE" => delete(&path).await,
            "MKCOL" => mkcol(&path).await,
            "OPTIONS" => {
                let mut response = full(StatusCode::NO_CONTENT, "");
                response.headers_mut().insert(
                    "allow",
                    http::HeaderValue::from_static(
                        "OPTIONS, PROPFIND, GET, HEAD, PUT, DELETE, MKCOL",
                    ),
                );
                response
                    .headers_mut()
                    .insert("dav", http::HeaderValue::from_static("1"));
                Ok(response)
            }
            _ => Ok(full(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not supported\n",
            )),
        };
        result.unwrap_or_else(|e| io_response(&e))
    }

    async fn propfind(
        &self,
        request_path: &str,
        path: &Path,
        children: bool,
    ) -> std::io::Result<Response<Body>> {
        let meta = tokio::fs::metadata(path).await?;
        let base = request_path.trim_end_matches('/');
        let mut xml = String::from(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\">",
        );
        let href = if meta.is_dir() {
            format!("{base}/")
        } else {
            base.to_owned()
        };
        entry(&mut xml, &href, &meta);
        if meta.is_dir() && children {
            let mut dir = tokio::fs::read_dir(path).await?;
            let mut items = Vec::new();
            while let Some(item) = dir.next_entry().await? {
                let Ok(meta) = item.metadata().await else {
                    continue;
                };
                let name = item.file_name().to_string_lossy().into_owned();
                items.push((name, meta));
            }
            items.sort_by(|a, b| a.0.cmp(&b.0));
            for (name, meta) in items {
                let encoded =
                    percent_encoding::utf8_percent_encode(&name, crate::URL_COMPONENT).to_string();
                let slash = if meta.is_dir() { "/" } else { "" };
                entry(&mut xml, &format!("{base}/{encoded}{slash}"), &meta);
            }
        }
        xml.push_str("</D:multistatus>\n");
        let mut response = full(StatusCode::MULTI_STATUS, xml);
        response.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/xml; charset=utf-8"),
        );
        Ok(response)
    }
}

/// One `<D:response>` of a multistatus.
fn entry(xml: &mut String, href: &str, meta: &std::fs::Metadata) {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    xml.push_str("<D:response><D:href>");
    xml.push_str(&escape(href));
    xml.push_str("</D:href><D:propstat><D:prop>");
    if meta.is_dir() {
        xml.push_str("<D:resourcetype><D:collection/></D:resourcetype>");
    } else {
        xml.push_str(&format!(
            "<D:resourcetype/><D:getcontentlength>{}</D:getcontentlength>",
            meta.len()
        ));
    }
    if let Ok(modified) = meta.modified() {
        xml.push_str(&format!(
            "<D:getlastmodified>{}</D:getlastmodified>",
            httpdate::fmt_http_date(modified)
        ));
    }
    xml.push_str("</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>");
}

fn io_response(e: &std::io::Error) -> Response<Body> {
    use std::io::ErrorKind;
    let status = match e.kind() {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorKind::AlreadyExists => StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::IsADirectory | ErrorKind::NotADirectory | ErrorKind::DirectoryNotEmpty => {
            StatusCode::CONFLICT
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    full(status, format!("{e}\n"))
}

async fn get(path: &Path, head: bool) -> std::io::Result<Response<Body>> {
    let meta = tokio::fs::metadata(path).await?;
    if meta.is_dir() {
        return Ok(full(
            StatusCode::METHOD_NOT_ALLOWED,
            "a directory; use PROPFIND\n",
        ));
    }
    let mut response = if head {
        full(StatusCode::OK, "")
    } else {
        let file = tokio::fs::File::open(path).await?;
        let stream = futures_util::StreamExt::map(tokio_util::io::ReaderStream::new(file), |r| {
            r.map(Frame::data)
        });
        Response::new(BodyExt::boxed(StreamBody::new(stream)))
    };
    response
        .headers_mut()
        .insert("content-length", http::HeaderValue::from(meta.len()));
    Ok(response)
}

async fn put(path: &Path, request: Request<Incoming>) -> std::io::Result<Response<Body>> {
    let declared = request
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > FS_MAX_UPLOAD as u64) {
        return Ok(full(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the upload is too large\n",
        ));
    }
    if tokio::fs::metadata(path).await.is_ok_and(|m| m.is_dir()) {
        return Ok(full(StatusCode::METHOD_NOT_ALLOWED, "a directory\n"));
    }
    if let Some(refusal) = missing_parent(path).await {
        return Ok(refusal);
    }
    let body = match Limited::new(request.into_body(), FS_MAX_UPLOAD)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return Ok(full(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the upload is too large\n",
            ));
        }
    };
    let existed = tokio::fs::metadata(path).await.is_ok();
    tokio::fs::write(path, &body).await?;
    Ok(full(
        if existed {
            StatusCode::NO_CONTENT
        } else {
            StatusCode::CREATED
        },
        "",
    ))
}

/// `409 Conflict` when `path`'s parent is not an existing directory.
async fn missing_parent(path: &Path) -> Option<Response<Body>> {
    let parent_ok = match path.parent() {
        Some(parent) => tokio::fs::metadata(parent).await.is_ok_and(|m| m.is_dir()),
        None => false,
    };
    (!parent_ok).then(|| {
        full(
            StatusCode::CONFLICT,
            "the parent directory does not exist\n",
        )
    })
}

async fn delete(path: &Path) -> std::io::Result<Response<Body>> {
    let meta = tokio::fs::symlink_metadata(path).await?;
    if meta.is_dir() {
        tokio::fs::remove_dir_all(path).await?;
    } else {
        tokio::fs::remove_file(path).await?;
    }
    Ok(full(StatusCode::NO_CONTENT, ""))
}

async fn mkcol(path: &Path) -> std::io::Result<Response<Body>> {
    if tokio::fs::metadata(path).await.is_ok() {
        return Ok(full(StatusCode::METHOD_NOT_ALLOWED, "already exists\n"));
    }
    if let Some(refusal) = missing_parent(path).await {
        return Ok(refusal);
    }
    tokio::fs::create_dir(path).await?;
    Ok(full(StatusCode::CREATED, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_under_the_root() {
        let root = Path::new("/srv/share");
        assert_eq!(local_path(root, "/fs"), Some(root.to_path_buf()));
        assert_eq!(local_path(root, "/fs/"), Some(root.to_path_buf()));
        assert_eq!(
            local_path(root, "/fs/a%20b/c.txt"),
            Some(root.join("a b").join("c.txt"))
        );
        assert_eq!(local_path(root, "/fs/../etc/passwd"), None);
        assert_eq!(local_path(root, "/fs/a/%2e%2e/%2e%2e/x"), None);
        assert_eq!(local_path(root, "/fs/a%00b"), None);
        assert_eq!(local_path(root, "/fsx"), None);
        assert_eq!(local_path(root, "/other"), None);
    }
}
