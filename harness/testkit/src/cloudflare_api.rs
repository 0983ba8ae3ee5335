//! A Cloudflare-API-compatible test server for the DNS-records endpoints,
//! backed by a real authoritative server ([`Knot`]).
//!
//! It serves the documented v4 shapes (`/client/v4/zones`,
//! `/client/v4/zones/{zone_id}/dns_records[/{id}]` with GET/POST/PUT/PATCH/
//! DELETE, the `{success, errors, messages, result, result_info}` envelope,
//! `page`/`per_page` pagination, `name`/`type`/`content` filters), Bearer
//! token auth, and the validation a sync loop trips over: proxied records
//! must have public targets (error 9003), TXT cannot be proxied, proxied
//! records always have TTL 1 ("automatic"), other TTLs are 1 or 60..=86400.
//!
//! Every accepted change is written to Knot in one zone transaction, so a
//! resolver sees what the API says. Proxied A records resolve to the
//! configured edge addresses, as Cloudflare answers with its own anycast
//! addresses. Error codes for auth failures are modelled on what clients
//! report from the real API (missing/malformed header: 400 / 6003; unknown
//! token: 403 / 9109) and are not an authoritative list.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use infraflux_engine::dns::cloudflare::{DnsRecord, RecordInput};
use crate::knot::{Knot, ZoneRecord};
use infraflux_engine::dns::{Error, Result};
use infraflux_model::secret::Secret;

/// What the fake serves.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Zone name without trailing dot, e.g. `lab.infraflux.test`.
    pub zone: String,
    /// The one token the fake accepts.
    pub token: Secret,
    /// Addresses proxied A records resolve to (the "edge").
    pub edge_addresses: Vec<Ipv4Addr>,
    /// Records that exist before the test starts (someone else's).
    pub seed: Vec<RecordInput>,
}

struct Store {
    zone: String,
    zone_id: String,
    token: String,
    edge: Vec<Ipv4Addr>,
    records: BTreeMap<String, DnsRecord>,
    next_id: u64,
    knot: Knot,
}

/// The running fake. Stops (server task, knotd) on drop.
pub struct CloudflareFake {
    addr: SocketAddr,
    dns_addr: SocketAddr,
    zone_id: String,
    store: Arc<Mutex<Store>>,
    task: tokio::task::JoinHandle<()>,
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (64..128).contains(&o[1]))
        || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
        || o[0] >= 240)
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => !(v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80),
    }
}

struct ApiError {
    status: StatusCode,
    code: u32,
    message: String,
}

fn api_err(status: StatusCode, code: u32, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        message: message.into(),
    }
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Store {
    fn fqdn(&self, name: &str) -> String {
        let n = name.trim_end_matches('.').to_ascii_lowercase();
        if n == "@" || n.is_empty() {
            return self.zone.clone();
        }
        if n == self.zone || n.ends_with(&format!(".{}", self.zone)) {
            n
        } else {
            format!("{n}.{}", self.zone)
        }
    }

    /// Validates a full record description and fills in the derived fields.
    fn validate(&self, input: &RecordInput, id: String, created_on: String) -> Result<DnsRecord, ApiError> {
        let bad = |code, msg: String| Err(api_err(StatusCode::BAD_REQUEST, code, msg));
        let (Some(name), Some(rtype), Some(content)) = (&input.name, &input.rtype, &input.content) else {
            return bad(9000, "DNS record requires name, type and content".into());
        };
        let name = self.fqdn(name);
        let rtype = rtype.to_ascii_uppercase();
        let proxiable = match rtype.as_str() {
            "A" => match content.parse::<Ipv4Addr>() {
                Ok(ip) => is_public_v4(ip),
                Err(_) => return bad(9005, format!("Content for A record must be a valid IPv4 address, got {content}.")),
            },
            "AAAA" => match content.parse::<std::net::Ipv6Addr>() {
                Ok(ip) => is_public(IpAddr::V6(ip)),
                Err(_) => return bad(9006, format!("Content for AAAA record must be a valid IPv6 address, got {content}.")),
            },
            "CNAME" => true,
            "TXT" => false,
            other => return bad(9000, format!("DNS record type {other} is not supported by this test server.")),
        };
        let proxied = input.proxied.unwrap_or(false);
        if proxied && rtype == "TXT" {
            return bad(9004, "This record type cannot be proxied.".into());
        }
        if proxied && !proxiable {
            return bad(9003, format!("Target {content} is not allowed for a proxied record."));
        }
        let ttl = input.ttl.unwrap_or(1);
        let ttl = if proxied {
            // Proxied records are always "automatic"; the API normalises any TTL to 1.
            1
        } else if ttl == 1 || (60..=86400).contains(&ttl) {
            ttl
        } else {
            return bad(9021, "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.".into());
        };
        let duplicate = self
            .records
            .values()
            .any(|r| r.id != id && r.name == name && r.rtype == rtype && r.content == *content);
        if duplicate {
            return bad(81058, "An identical record already exists.".into());
        }
        Ok(DnsRecord {
            id,
            name,
            rtype,
            content: content.clone(),
            proxied,
            proxiable,
            ttl,
            comment: input.comment.clone(),
            created_on,
            modified_on: now(),
        })
    }

    /// What Knot should serve for one (name, type) given all API records.
    fn rendered(&self, name: &str, rtype: &str) -> BTreeSet<(String, String, String)> {
        let mut out = BTreeSet::new();
        for r in self.records.values().filter(|r| r.name == name) {
            let owner = format!("{}.", r.name);
            // A proxied name answers with the edge's addresses, whatever its target type.
            if r.proxied {
                if rtype == "A" {
                    for e in &self.edge {
                        out.insert((owner.clone(), "A".to_string(), e.to_string()));
                    }
                }
                continue;
            }
            if r.rtype != rtype {
                continue;
            }
            let rdata = match r.rtype.as_str() {
                "TXT" if !r.content.starts_with('"') => format!("\"{}\"", r.content.replace('"', "\\\"")),
                "CNAME" => format!("{}.", r.content.trim_end_matches('.')),
                _ => r.content.clone(),
            };
            out.insert((owner, r.rtype.clone(), rdata));
        }
        out
    }

    fn ttl_for(&self, name: &str) -> u32 {
        self.records
            .values()
            .filter(|r| r.name == name && r.ttl != 1)
            .map(|r| r.ttl)
            .min()
            .unwrap_or(300)
    }

    /// Replaces the store's record set via `change`, writing the difference
    /// to Knot first; if Knot refuses, the store is left untouched.
    fn commit(&mut self, change: impl FnOnce(&mut BTreeMap<String, DnsRecord>)) -> Result<(), ApiError> {
        let mut next = self.records.clone();
        change(&mut next);
        let touched: BTreeSet<String> = self
            .records
            .values()
            .chain(next.values())
            .map(|r| r.name.clone())
            .collect();
        let mut before = BTreeSet::new();
        for n in &touched {
            for t in ["A", "AAAA", "CNAME", "TXT"] {
                before.extend(self.rendered(n, t).into_iter().map(|x| (x, self.ttl_for(n))));
            }
        }
        let old = std::mem::replace(&mut self.records, next);
        let mut after = BTreeSet::new();
        for n in &touched {
            for t in ["A", "AAAA", "CNAME", "TXT"] {
                after.extend(self.rendered(n, t).into_iter().map(|x| (x, self.ttl_for(n))));
            }
        }
        let to_zr = |((owner, rtype, rdata), ttl): &((String, String, String), u32)| ZoneRecord {
            owner: owner.clone(),
            ttl: *ttl,
            rtype: rtype.clone(),
            rdata: rdata.clone(),
        };
        let remove: Vec<ZoneRecord> = before.difference(&after).map(to_zr).collect();
        let add: Vec<ZoneRecord> = after.difference(&before).map(to_zr).collect();
        if let Err(e) = self.knot.apply(&remove, &add) {
            self.records = old;
            return Err(api_err(StatusCode::INTERNAL_SERVER_ERROR, 1000, format!("authoritative update failed: {e}")));
        }
        Ok(())
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        // 32 hex characters, like the real ids.
        format!("{:032x}", self.next_id)
    }

    fn handle(&mut self, method: &Method, path: &str, query: &BTreeMap<String, String>, auth: Option<&str>, body: &[u8]) -> Result<(StatusCode, Value), ApiError> {
        let token = match auth.and_then(|a| a.strip_prefix("Bearer ")) {
            Some(t) if !t.trim().is_empty() => t.trim(),
            _ => return Err(api_err(StatusCode::BAD_REQUEST, 6003, "Invalid request headers")),
        };
        if token != self.token {
            return Err(api_err(StatusCode::FORBIDDEN, 9109, "Invalid access token"));
        }
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let parse_body = |body: &[u8]| -> Result<RecordInput, ApiError> {
            serde_json::from_slice(body).map_err(|e| api_err(StatusCode::BAD_REQUEST, 9207, format!("Request body is invalid: {e}")))
        };
        match (method, parts.as_slice()) {
            (&Method::GET, ["client", "v4", "zones"]) => {
                let zones: Vec<Value> = if query.get("name").is_none_or(|n| *n == self.zone) {
                    vec![json!({"id": self.zone_id, "name": self.zone, "status": "active"})]
                } else {
                    vec![]
                };
                let n = zones.len() as u32;
                Ok((StatusCode::OK, envelope(json!(zones), Some(info(1, 20, n, n)))))
            }
            (_, ["client", "v4", "zones", zid, "dns_records", ..]) if *zid != self.zone_id => Err(api_err(
                StatusCode::NOT_FOUND,
                7003,
                "Could not route to the zone, perhaps your object identifier is invalid?",
            )),
            (&Method::GET, ["client", "v4", "zones", _, "dns_records"]) => {
                let page: u32 = query.get("page").and_then(|p| p.parse().ok()).filter(|p| *p >= 1).unwrap_or(1);
                let per_page: u32 = query.get("per_page").and_then(|p| p.parse().ok()).filter(|p| *p >= 1).unwrap_or(100).min(5000);
                let name = query.get("name").map(|n| self.fqdn(n));
                let rtype = query.get("type").map(|t| t.to_ascii_uppercase());
                let matching: Vec<&DnsRecord> = self
                    .records
                    .values()
                    .filter(|r| name.as_ref().is_none_or(|n| &r.name == n))
                    .filter(|r| rtype.as_ref().is_none_or(|t| &r.rtype == t))
                    .filter(|r| query.get("content").is_none_or(|c| &r.content == c))
                    .collect();
                let total = matching.len() as u32;
                let skip = ((page - 1) * per_page) as usize;
                let items: Vec<&DnsRecord> = matching.into_iter().skip(skip).take(per_page as usize).collect();
                let count = items.len() as u32;
                let mut env = envelope(json!(items), None);
                env["result_info"] = json!({"page": page, "per_page": per_page, "count": count, "total_count": total, "total_pages": total.div_ceil(per_page).max(1)});
                Ok((StatusCode::OK, env))
            }
            (&Method::POST, ["client", "v4", "zones", _, "dns_records"]) => {
                let input = parse_body(body)?;
                let id = self.new_id();
                let rec = self.validate(&input, id.clone(), now())?;
                let stored = rec.clone();
                self.commit(|m| {
                    m.insert(id, stored);
                })?;
                Ok((StatusCode::OK, envelope(json!(rec), None)))
            }
            (m, ["client", "v4", "zones", _, "dns_records", id]) => {
                let Some(existing) = self.records.get(*id).cloned() else {
                    return Err(api_err(StatusCode::NOT_FOUND, 81044, "Record does not exist."));
                };
                match *m {
                    Method::GET => Ok((StatusCode::OK, envelope(json!(existing), None))),
                    Method::DELETE => {
                        let id = id.to_string();
                        self.commit(|m| {
                            m.remove(&id);
                        })?;
                        Ok((StatusCode::OK, envelope(json!({"id": id}), None)))
                    }
                    Method::PUT | Method::PATCH => {
                        let mut input = parse_body(body)?;
                        if *m == Method::PATCH {
                            input.name = input.name.or(Some(existing.name.clone()));
                            input.rtype = input.rtype.or(Some(existing.rtype.clone()));
                            input.content = input.content.or(Some(existing.content.clone()));
                            input.proxied = input.proxied.or(Some(existing.proxied));
                            input.ttl = input.ttl.or(Some(existing.ttl));
                            input.comment = input.comment.or(existing.comment.clone());
                        }
                        let rec = self.validate(&input, existing.id.clone(), existing.created_on.clone())?;
                        let stored = rec.clone();
                        self.commit(|m| {
                            m.insert(stored.id.clone(), stored);
                        })?;
                        Ok((StatusCode::OK, envelope(json!(rec), None)))
                    }
                    _ => Err(api_err(StatusCode::METHOD_NOT_ALLOWED, 10405, "Method not allowed")),
                }
            }
            _ => Err(api_err(StatusCode::NOT_FOUND, 7000, "No route for that URI")),
        }
    }
}

fn info(page: u32, per_page: u32, count: u32, total: u32) -> Value {
    json!({"page": page, "per_page": per_page, "count": count, "total_count": total, "total_pages": total.div_ceil(per_page).max(1)})
}

fn envelope(result: Value, result_info: Option<Value>) -> Value {
    let mut v = json!({"success": true, "errors": [], "messages": [], "result": result});
    if let Some(i) = result_info {
        v["result_info"] = i;
    }
    v
}

fn parse_query(q: Option<&str>) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        m.insert(decode(k), decode(v));
    }
    m
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or(()) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn serve(store: Arc<Mutex<Store>>, req: Request<Incoming>) -> std::result::Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = parse_query(req.uri().query());
    let auth = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    // Knot is driven through knotc processes: keep that off the async workers.
    let result = tokio::task::spawn_blocking(move || {
        let mut s = match store.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        s.handle(&method, &path, &query, auth.as_deref(), &body)
    })
    .await
    .unwrap_or_else(|_| Err(api_err(StatusCode::INTERNAL_SERVER_ERROR, 1000, "handler panicked")));
    let (status, value) = match result {
        Ok(ok) => ok,
        Err(e) => (
            e.status,
            json!({"success": false, "errors": [{"code": e.code, "message": e.message}], "messages": [], "result": null}),
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from(value.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

impl CloudflareFake {
    /// Starts Knot (state in `dir`) with the seed records in its zone file,
    /// then the API on 127.0.0.1 with an ephemeral port.
    pub async fn start(cfg: FakeConfig, dir: &Path) -> Result<CloudflareFake> {
        let zone = cfg.zone.trim_end_matches('.').to_ascii_lowercase();
        let zone_id = format!("{:032x}", 0x1f1f_u64 ^ zone.len() as u64);
        // Seed records go through the same validation and rendering as API writes.
        let knot_dir = dir.to_path_buf();
        let zone_for_knot = zone.clone();
        let knot = tokio::task::spawn_blocking(move || Knot::start(&knot_dir, &zone_for_knot, &[]))
            .await
            .map_err(|e| Error::Server(format!("knot start task failed: {e}")))??;
        let dns_addr = knot.addr();
        let mut store = Store {
            zone,
            zone_id: zone_id.clone(),
            token: cfg.token.expose().to_string(),
            edge: cfg.edge_addresses,
            records: BTreeMap::new(),
            next_id: 0,
            knot,
        };
        let seed = cfg.seed;
        let store = tokio::task::spawn_blocking(move || {
            for input in &seed {
                let id = store.new_id();
                let rec = store
                    .validate(input, id.clone(), now())
                    .map_err(|e| Error::Server(format!("invalid seed record {input:?}: {}", e.message)))?;
                store
                    .commit(|m| {
                        m.insert(id, rec);
                    })
                    .map_err(|e| Error::Server(e.message))?;
            }
            Ok::<Store, Error>(store)
        })
        .await
        .map_err(|e| Error::Server(format!("seed task failed: {e}")))??;
        let store = Arc::new(Mutex::new(store));
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| Error::Server(format!("failed to bind the api listener: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Server(format!("failed to read the api address: {e}")))?;
        let s = store.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| serve(s.clone(), req));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        });
        Ok(CloudflareFake {
            addr,
            dns_addr,
            zone_id,
            store,
            task,
        })
    }

    /// Base URL to give a [`infraflux_engine::dns::cloudflare::Client`] (ends in `/client/v4`).
    pub fn base_url(&self) -> String {
        format!("http://{}/client/v4", self.addr)
    }

    /// Where the authoritative server answers (UDP and TCP).
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns_addr
    }

    pub fn zone_id(&self) -> &str {
        &self.zone_id
    }

    /// The zone as Knot serves it right now (`knotc zone-read`).
    pub fn zone_contents(&self) -> Result<String> {
        let s = match self.store.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        s.knot.read()
    }
}

impl Drop for CloudflareFake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_reserved_targets_are_not_public() {
        for ip in ["10.1.2.3", "192.168.3.80", "172.16.0.1", "127.0.0.1", "100.64.0.1", "169.254.1.1", "198.18.0.1"] {
            assert!(!is_public_v4(ip.parse().unwrap()), "{ip}");
        }
        assert!(is_public_v4("8.8.4.4".parse().unwrap()));
    }

    #[test]
    fn query_strings_are_percent_decoded() {
        let q = parse_query(Some("name=a-app.lab.test&content=%22heritage%3Dexternal-dns%22&per_page=2"));
        assert_eq!(q["content"], "\"heritage=external-dns\"");
        assert_eq!(q["per_page"], "2");
    }
}
