//! Serves a source root ([`crate::source`]) over HTTP to the cluster:
//!
//! - `/git/<name>.git/…`: Git's smart HTTP protocol, answered by
//!   `git http-backend` run as a CGI per request (clone and fetch only: the
//!   backend refuses pushes from an unauthenticated client);
//! - `/charts/<file>`: the Helm repository's files;
//! - `/healthz`: 200, for whoever waits on the server.
//!
//! Anything else is 404. Nothing outside the root is reachable: chart file
//! names are single path components and the Git backend resolves only under
//! its project root.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;

use crate::{Error, Result};

/// Largest request body accepted (a fetch negotiation is a few KiB).
const MAX_BODY: usize = 16 << 20;

type Body = Full<Bytes>;

/// Accepts connections on `listener` and serves `root` until `shutdown`
/// completes.
pub async fn serve(listener: TcpListener, root: PathBuf, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
    let root = Arc::new(root);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            r = listener.accept() => r.map_err(|source| Error::Io { path: PathBuf::from("<listener>"), source })?,
        };
        let root = Arc::clone(&root);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let root = Arc::clone(&root);
                async move { Ok::<_, Infallible>(handle(&root, peer, req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
    *r.status_mut() = status;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain"));
    r
}

async fn handle(root: &Path, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let resp = if path == "/healthz" {
        plain(StatusCode::OK, "ok")
    } else if let Some(rest) = path.strip_prefix("/git/") {
        git(root, peer, rest, req).await
    } else if let Some(name) = path.strip_prefix("/charts/") {
        chart_file(root, name, &method).await
    } else {
        plain(StatusCode::NOT_FOUND, "not found")
    };
    tracing::info!(%peer, %method, path, status = resp.status().as_u16(), "served");
    resp
}

async fn chart_file(root: &Path, name: &str, method: &hyper::Method) -> Response<Body> {
    if method != hyper::Method::GET && method != hyper::Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "GET only");
    }
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return plain(StatusCode::NOT_FOUND, "not found");
    }
    match tokio::fs::read(root.join("charts").join(name)).await {
        Ok(bytes) => {
            let ct = if name.ends_with(".yaml") { "application/x-yaml" } else { "application/gzip" };
            let mut r = Response::new(Full::new(Bytes::from(bytes)));
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(ct));
            r
        }
        Err(_) => plain(StatusCode::NOT_FOUND, "not found"),
    }
}

async fn git(root: &Path, peer: SocketAddr, rest: &str, req: Request<Incoming>) -> Response<Body> {
    // Only `<name>.git/…` under the project root, never a `..` or an
    // encoded one: the backend would refuse it too, but as a 500.
    let repo_ok = rest.split('/').next().is_some_and(|r| r.len() > 4 && r.ends_with(".git") && !r.starts_with('.'));
    if !repo_ok || rest.split('/').any(|c| c == ".." || c == ".") || rest.contains('%') {
        return plain(StatusCode::NOT_FOUND, "not found");
    }
    let method = req.method().as_str().to_owned();
    if method != "GET" && method != "POST" {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "GET and POST only");
    }
    let query = req.uri().query().unwrap_or("").to_owned();
    let header = |k: hyper::header::HeaderName| req.headers().get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let content_type = header(hyper::header::CONTENT_TYPE);
    let encoding = header(hyper::header::CONTENT_ENCODING);
    let protocol = req.headers().get("git-protocol").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let body = match http_body_util::Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
    };
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_PROJECT_ROOT", root.join("git"))
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", format!("/{rest}"))
        .env("QUERY_STRING", &query)
        .env("CONTENT_TYPE", &content_type)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_ADDR", peer.ip().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if !encoding.is_empty() {
        cmd.env("HTTP_CONTENT_ENCODING", &encoding);
    }
    if !protocol.is_empty() {
        cmd.env("GIT_PROTOCOL", &protocol);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("git http-backend: {e}")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A backend that stops reading early (a refused request) is not an
        // error here: its answer says what went wrong.
        let _ = stdin.write_all(&body).await;
    }
    let out = match child.wait_with_output().await {
        Ok(o) => o,
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("git http-backend: {e}")),
    };
    if !out.stderr.is_empty() {
        tracing::debug!(stderr = %String::from_utf8_lossy(&out.stderr).trim(), "git http-backend");
    }
    match cgi_response(&out.stdout) {
        Ok(r) => r,
        Err(why) => plain(StatusCode::BAD_GATEWAY, &format!("git http-backend: {why}")),
    }
}

/// Parses a CGI response: header lines (`Status:` sets the code), an empty
/// line, the body.
pub fn cgi_response(raw: &[u8]) -> std::result::Result<Response<Body>, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, i + 2)))
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..split.0]).map_err(|_| "headers are not UTF-8")?;
    let mut resp = Response::new(Full::new(Bytes::copy_from_slice(&raw[split.1..])));
    for line in head.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        let (k, v) = line.split_once(':').ok_or_else(|| format!("bad header line `{line}`"))?;
        let v = v.trim();
        if k.eq_ignore_ascii_case("status") {
            let code = v.split_whitespace().next().and_then(|c| c.parse::<u16>().ok()).ok_or_else(|| format!("bad status `{v}`"))?;
            *resp.status_mut() = StatusCode::from_u16(code).map_err(|e| e.to_string())?;
        } else {
            let name = hyper::header::HeaderName::from_bytes(k.trim().as_bytes()).map_err(|e| e.to_string())?;
            let value = hyper::header::HeaderValue::from_str(v).map_err(|e| e.to_string())?;
            resp.headers_mut().append(name, value);
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgi_answer_keeps_its_status_headers_and_body() {
        let r = cgi_response(b"Status: 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nno push\n").expect("parse");
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(r.headers()["content-type"], "text/plain");
        let r = cgi_response(b"Content-Type: application/x-git-upload-pack-advertisement\n\n001e# service").expect("parse");
        assert_eq!(r.status(), StatusCode::OK);
        assert!(cgi_response(b"no blank line").is_err());
        assert!(cgi_response(b"Status: abc\n\n").is_err());
    }
}
