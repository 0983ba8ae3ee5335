//! A Proxmox-VE-API test server for exactly the endpoints the
//! `proxmox-rke2` provider calls, over HTTPS with a self-signed
//! certificate as a fresh Proxmox install has.
//!
//! It follows the API viewer's parameter names and formats and refuses
//! what Proxmox refuses: an unknown parameter or a malformed value (400,
//! `errors` per parameter, "Parameter verification failed."), a missing or
//! wrong token (401), a path the token may not use (403), destroying a
//! running VM (500 "VM N is running - destroy failed"), storage on a linked
//! clone, a shrinking resize, a clone onto a used VMID. Asynchronous calls
//! answer with a UPID; the task reports `running` on its first status poll
//! and `stopped` with its exit status after, and its log is served.
//! Injected faults: a clone task that ends in error (leaving no VM, as
//! Proxmox removes a failed clone's config), 403 or 500 on chosen paths.
//!
//! With a [`vm::Lab`], "starting" a VM boots a network namespace with a real
//! sshd on the `ipconfig0` address ([`vm`]); the guest agent answers once
//! sshd listens: `network-get-interfaces` with that address, `file-read`
//! with that sshd's host key.

pub mod vm;

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use self::vm::{Lab, LabVm};

/// One VM (or template) the server knows.
#[derive(Debug)]
pub struct Vm {
    pub vmid: u32,
    pub name: String,
    pub template: bool,
    pub running: bool,
    /// The VM's configuration as `GET …/config` would return it.
    pub config: BTreeMap<String, String>,
    /// The booted lab VM, when a lab is attached.
    pub lab_vm: Option<LabVm>,
}

impl Vm {
    pub fn tags(&self) -> Vec<String> {
        self.config.get("tags").map(|t| t.split([';', ',', ' ']).filter(|s| !s.is_empty()).map(str::to_owned).collect()).unwrap_or_default()
    }
}

struct Task {
    node: String,
    exit: String,
    log: Vec<String>,
    polled: bool,
}

/// A request as the server received it: method, path below `/api2/json`,
/// decoded parameters, and whether it carried the right token.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub params: Vec<(String, String)>,
    pub authorized: bool,
}

#[derive(Default)]
struct State {
    vms: BTreeMap<u32, Vm>,
    tasks: BTreeMap<String, Task>,
    seen: Vec<Seen>,
    fail_clone: BTreeSet<String>,
    forbidden: Vec<String>,
    broken: Vec<String>,
    storage_avail: u64,
    next_task: u32,
}

/// What the server starts with.
pub struct Config {
    pub node: String,
    pub storage: String,
    /// `user@realm!tokenid`.
    pub token_id: String,
    pub token: String,
    /// `(vmid, name, is_template)`; templates get `scsi0` of 10 GiB.
    pub seed: Vec<(u32, String, bool, Option<String>)>,
    pub storage_avail_gib: u64,
}

pub struct PveServer {
    addr: SocketAddr,
    cert_der: Vec<u8>,
    ca_pem: PathBuf,
    state: Arc<Mutex<State>>,
    cfg: Arc<Config>,
    lab: Option<Arc<Lab>>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    match s.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// What a handler answers: status, optional message, data or per-param errors.
struct Answer {
    status: StatusCode,
    body: Value,
}

fn ok(data: Value) -> Answer {
    Answer { status: StatusCode::OK, body: json!({ "data": data }) }
}

fn fail(status: StatusCode, message: impl Into<String>) -> Answer {
    Answer { status, body: json!({ "data": null, "message": format!("{}\n", message.into()) }) }
}

fn bad_params(errors: BTreeMap<String, String>) -> Answer {
    Answer { status: StatusCode::BAD_REQUEST, body: json!({ "data": null, "message": "Parameter verification failed.\n", "errors": errors }) }
}

/// A documented parameter: its name and its format check.
type Param = (&'static str, fn(&str) -> bool);

/// Checks names against the documented set and values against their
/// format; `required` must be present.
fn verify(params: &BTreeMap<String, String>, allowed: &[Param], required: &[&str]) -> Result<(), Answer> {
    let mut errors = BTreeMap::new();
    for (k, v) in params {
        match allowed.iter().find(|(n, _)| n == k) {
            None => {
                errors.insert(k.clone(), "property is not defined in schema and the schema does not allow additional properties".into());
            }
            Some((_, check)) if !check(v) => {
                errors.insert(k.clone(), format!("value '{v}' does not have a valid format"));
            }
            _ => {}
        }
    }
    for r in required {
        if !params.contains_key(*r) {
            errors.insert((*r).into(), "property is missing and it is not optional".into());
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(bad_params(errors)) }
}

fn any(_: &str) -> bool {
    true
}
fn boolean(v: &str) -> bool {
    matches!(v, "0" | "1")
}
fn integer(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}
fn vmid(v: &str) -> bool {
    v.parse::<u32>().is_ok_and(|n| (100..=999_999_999).contains(&n))
}
fn name(v: &str) -> bool {
    // pve `dns-name`.
    !v.is_empty() && v.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}
fn pve_id(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}
fn tags(v: &str) -> bool {
    v.split([';', ',', ' ']).filter(|t| !t.is_empty()).all(|t| {
        let b = t.as_bytes();
        (b[0].is_ascii_alphanumeric() || b[0] == b'_') && b.iter().all(|c| c.is_ascii_alphanumeric() || b"_-+.".contains(c))
    })
}
fn urlencoded(v: &str) -> bool {
    // pve-common's `urlencoded` format: the raw value may hold only these.
    v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-%_.!~*'()".contains(&b))
}
fn ipconfig(v: &str) -> bool {
    v.split(',').all(|kv| match kv.split_once('=') {
        Some(("ip", a)) => a == "dhcp" || a.parse::<ipnet::Ipv4Net>().is_ok(),
        Some(("gw", a)) => a.parse::<Ipv4Addr>().is_ok(),
        _ => false,
    })
}
fn memory(v: &str) -> bool {
    v.parse::<u64>().is_ok_and(|m| m >= 16)
}
fn agent(v: &str) -> bool {
    matches!(v, "0" | "1" | "enabled=1" | "enabled=0")
}
fn net(v: &str) -> bool {
    let mut parts = v.split(',');
    parts.next().is_some_and(|m| ["virtio", "e1000", "vmxnet3", "rtl8139"].contains(&m) || m.starts_with("virtio="))
        && parts.all(|kv| kv.split_once('=').is_some_and(|(k, _)| ["bridge", "firewall", "tag", "mtu", "queues", "rate"].contains(&k)))
}
fn disk_size(v: &str) -> bool {
    let t = v.trim_start_matches('+');
    let n = t.trim_end_matches(['K', 'M', 'G', 'T']);
    !n.is_empty() && n.parse::<f64>().is_ok()
}
fn gib(size: &str) -> Option<f64> {
    let (n, unit) = size.split_at(size.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(size.len()));
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "K" => n / (1024.0 * 1024.0),
        "M" => n / 1024.0,
        "G" | "" => n,
        "T" => n * 1024.0,
        _ => return None,
    })
}

fn form_decode(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let d = |x: &str| percent_encoding::percent_decode_str(&x.replace('+', " ")).decode_utf8_lossy().into_owned();
            (d(k), d(v))
        })
        .collect()
}

impl State {
    fn upid(&mut self, node: &str, kind: &str, id: &str, user: &str) -> String {
        self.next_task += 1;
        format!("UPID:{node}:{:08X}:{:08X}:{:08X}:{kind}:{id}:{user}:", 4000 + self.next_task, 77_000 + self.next_task, 1_700_000_000 + self.next_task)
    }

    fn task(&mut self, node: &str, kind: &str, id: &str, user: &str, result: Result<Vec<String>, String>) -> Answer {
        let upid = self.upid(node, kind, id, user);
        let (exit, log) = match result {
            Ok(mut log) => {
                log.push("TASK OK".into());
                ("OK".to_owned(), log)
            }
            Err(e) => (e.clone(), vec![e.clone(), format!("TASK ERROR: {e}")]),
        };
        self.tasks.insert(upid.clone(), Task { node: node.into(), exit, log, polled: false });
        ok(json!(upid))
    }
}

impl PveServer {
    /// Starts on 127.0.0.1 with a fresh self-signed certificate (SANs
    /// `localhost`, `127.0.0.1`). With `lab`, starting a VM boots it there.
    pub async fn start(cfg: Config, lab: Option<Lab>) -> std::io::Result<PveServer> {
        let dir = tempfile::tempdir()?;
        let err = |e: String| std::io::Error::other(e);
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).map_err(|e| err(e.to_string()))?;
        let cert_der = ck.cert.der().to_vec();
        let ca_pem = dir.path().join("pve-root-ca.pem");
        std::fs::write(&ca_pem, ck.cert.pem())?;
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| err(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(vec![cert_der.clone().into()], key)
            .map_err(|e| err(e.to_string()))?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let mut state = State { storage_avail: cfg.storage_avail_gib << 30, ..State::default() };
        for (id, n, template, tag) in &cfg.seed {
            let mut config = BTreeMap::from([("name".to_owned(), n.clone()), ("scsi0".to_owned(), format!("{}:base-{id}-disk-0,size=10G", cfg.storage))]);
            if let Some(t) = tag {
                config.insert("tags".into(), t.clone());
            }
            if *template {
                config.insert("template".into(), "1".into());
            }
            state.vms.insert(*id, Vm { vmid: *id, name: n.clone(), template: *template, running: false, config, lab_vm: None });
        }
        let state = Arc::new(Mutex::new(state));
        let cfg = Arc::new(cfg);
        let lab = lab.map(Arc::new);
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (s, c, l, d) = (state.clone(), cfg.clone(), lab.clone(), dir.path().to_path_buf());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (s, c, l, d, acceptor) = (s.clone(), c.clone(), l.clone(), d.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else { return };
                    let svc = service_fn(move |req| serve(s.clone(), c.clone(), l.clone(), d.clone(), req));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(tls), svc).await;
                });
            }
        });
        Ok(PveServer { addr, cert_der, ca_pem, state, cfg, lab, task, _dir: dir })
    }

    /// `https://127.0.0.1:<port>/api2/json`.
    pub fn endpoint(&self) -> String {
        format!("https://{}/api2/json", self.addr)
    }

    /// SHA-256 of the certificate (DER).
    pub fn fingerprint(&self) -> [u8; 32] {
        use sha2::Digest as _;
        sha2::Sha256::digest(&self.cert_der).into()
    }

    /// The self-signed certificate as PEM (it is its own CA).
    pub fn ca_file(&self) -> &Path {
        &self.ca_pem
    }

    pub fn lab(&self) -> Option<&Lab> {
        self.lab.as_deref()
    }

    /// The clone task for a VM of this name ends in error.
    pub fn fail_clone_of(&self, name: &str) {
        lock(&self.state).fail_clone.insert(name.into());
    }

    /// Requests whose path starts with this answer 403.
    pub fn forbid(&self, path_prefix: &str) {
        lock(&self.state).forbidden.push(path_prefix.into());
    }

    /// Requests whose path starts with this answer 500.
    pub fn break_path(&self, path_prefix: &str) {
        lock(&self.state).broken.push(path_prefix.into());
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.state).seen.clone()
    }

    /// `(vmid, name, tags, running)` of every VM.
    pub fn vms(&self) -> Vec<(u32, String, Vec<String>, bool)> {
        lock(&self.state).vms.values().map(|v| (v.vmid, v.name.clone(), v.tags(), v.running)).collect()
    }

    /// A VM's configuration.
    pub fn config(&self, vmid: u32) -> Option<BTreeMap<String, String>> {
        lock(&self.state).vms.get(&vmid).map(|v| v.config.clone())
    }

    /// Where VM `vmid`'s files live (`etc/…` is the node's `/etc`); kept
    /// after the VM is destroyed, until the server is dropped.
    pub fn disk(&self, vmid: u32) -> PathBuf {
        self._dir.path().join(format!("disk-{vmid}"))
    }

    pub fn node(&self) -> &str {
        &self.cfg.node
    }
}

impl Drop for PveServer {
    fn drop(&mut self) {
        self.task.abort();
        // Running lab VMs stop before the lab goes.
        for v in lock(&self.state).vms.values_mut() {
            v.lab_vm = None;
        }
    }
}

async fn serve(state: Arc<Mutex<State>>, cfg: Arc<Config>, lab: Option<Arc<Lab>>, dir: PathBuf, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let full_path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let auth = req.headers().get("authorization").and_then(|h| h.to_str().ok()).map(str::to_owned);
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let mut params = form_decode(&query);
    if method == Method::POST || method == Method::PUT {
        params.extend(form_decode(&String::from_utf8_lossy(&body)));
    }
    let expected = format!("PVEAPIToken={}={}", cfg.token_id, cfg.token);
    let authorized = auth.as_deref() == Some(expected.as_str());
    let path = full_path.strip_prefix("/api2/json").unwrap_or(&full_path).to_owned();
    let answer = {
        let mut st = lock(&state);
        st.seen.push(Seen { method: method.to_string(), path: path.clone(), params: params.clone(), authorized });
        if !authorized {
            fail(StatusCode::UNAUTHORIZED, "authentication failure")
        } else if st.forbidden.iter().any(|p| path.starts_with(p.as_str())) {
            fail(StatusCode::FORBIDDEN, format!("Permission check failed ({path}, VM.Allocate)"))
        } else if st.broken.iter().any(|p| path.starts_with(p.as_str())) {
            fail(StatusCode::INTERNAL_SERVER_ERROR, "internal error (injected)")
        } else {
            let map: BTreeMap<String, String> = params.into_iter().collect();
            route(&mut st, &cfg, lab.as_deref(), &dir, &method, &path, &map)
        }
    };
    let mut resp = Response::new(Full::new(Bytes::from(answer.body.to_string())));
    *resp.status_mut() = answer.status;
    resp.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json;charset=UTF-8"));
    Ok(resp)
}

fn user(cfg: &Config) -> String {
    cfg.token_id.clone()
}

fn route(st: &mut State, cfg: &Config, lab: Option<&Lab>, dir: &Path, method: &Method, path: &str, p: &BTreeMap<String, String>) -> Answer {
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let node = cfg.node.as_str();
    match (method.as_str(), seg.as_slice()) {
        ("GET", ["cluster", "nextid"]) => {
            if let Err(a) = verify(p, &[("vmid", vmid)], &[]) {
                return a;
            }
            let free = (100u32..).find(|i| !st.vms.contains_key(i)).unwrap_or(100);
            ok(json!(free.to_string()))
        }
        ("GET", ["cluster", "resources"]) => {
            if let Err(a) = verify(p, &[("type", |v| ["vm", "storage", "node", "sdn"].contains(&v))], &[]) {
                return a;
            }
            let list: Vec<Value> = st
                .vms
                .values()
                .map(|v| {
                    let mut o = json!({
                        "id": format!("qemu/{}", v.vmid), "type": "qemu", "vmid": v.vmid, "name": v.name, "node": node,
                        "status": if v.running { "running" } else { "stopped" }, "template": u8::from(v.template),
                    });
                    if let Some(t) = v.config.get("tags") {
                        o["tags"] = json!(t.replace([',', ' '], ";"));
                    }
                    o
                })
                .collect();
            ok(json!(list))
        }
        (_, ["nodes", n, ..]) if *n != node => fail(StatusCode::INTERNAL_SERVER_ERROR, format!("no such cluster node '{n}'")),
        ("GET", ["nodes", _, "storage", s, "status"]) => {
            if *s != cfg.storage {
                return fail(StatusCode::INTERNAL_SERVER_ERROR, format!("storage '{s}' does not exist"));
            }
            ok(json!({ "avail": st.storage_avail, "total": st.storage_avail * 2, "used": st.storage_avail, "active": 1, "enabled": 1, "type": "lvmthin" }))
        }
        ("GET", ["nodes", _, "tasks", upid, "status"]) => match st.tasks.get_mut(*upid) {
            None => fail(StatusCode::INTERNAL_SERVER_ERROR, format!("no such task '{upid}'")),
            Some(t) if !t.polled => {
                t.polled = true;
                ok(json!({ "upid": upid, "node": t.node, "status": "running" }))
            }
            Some(t) => ok(json!({ "upid": upid, "node": t.node, "status": "stopped", "exitstatus": t.exit })),
        },
        ("GET", ["nodes", _, "tasks", upid, "log"]) => {
            if let Err(a) = verify(p, &[("start", integer), ("limit", integer), ("download", boolean)], &[]) {
                return a;
            }
            match st.tasks.get(*upid) {
                None => fail(StatusCode::INTERNAL_SERVER_ERROR, format!("no such task '{upid}'")),
                Some(t) => ok(json!(t.log.iter().enumerate().map(|(i, l)| json!({ "n": i + 1, "t": l })).collect::<Vec<_>>())),
            }
        }
        (m, ["nodes", _, "qemu", id, rest @ ..]) => {
            let Ok(id) = id.parse::<u32>() else { return bad_params(BTreeMap::from([("vmid".into(), "invalid format".into())])) };
            if !st.vms.contains_key(&id) {
                return fail(StatusCode::INTERNAL_SERVER_ERROR, format!("Configuration file 'nodes/{node}/qemu-server/{id}.conf' does not exist"));
            }
            qemu(st, cfg, lab, dir, m, id, rest, p)
        }
        _ => fail(StatusCode::NOT_IMPLEMENTED, format!("Method '{method} {path}' not implemented")),
    }
}

#[allow(clippy::too_many_arguments)]
fn qemu(st: &mut State, cfg: &Config, lab: Option<&Lab>, dir: &Path, m: &str, id: u32, rest: &[&str], p: &BTreeMap<String, String>) -> Answer {
    let node = cfg.node.clone();
    let u = user(cfg);
    match (m, rest) {
        ("POST", ["clone"]) => {
            let allowed: &[Param] = &[
                ("newid", vmid), ("name", name), ("target", pve_id), ("storage", pve_id), ("full", boolean), ("pool", pve_id),
                ("description", any), ("format", |v| ["raw", "qcow2", "vmdk"].contains(&v)), ("snapname", pve_id), ("bwlimit", integer),
            ];
            if let Err(a) = verify(p, allowed, &["newid"]) {
                return a;
            }
            let newid: u32 = p["newid"].parse().unwrap_or_default();
            let src = &st.vms[&id];
            let full = p.get("full").map_or(!src.template, |f| f == "1");
            if p.contains_key("storage") && !full {
                return fail(StatusCode::INTERNAL_SERVER_ERROR, "parameter 'storage' not allowed for linked clones");
            }
            if !full && !src.template {
                return fail(StatusCode::INTERNAL_SERVER_ERROR, "Linked clone feature is not supported for running or non-template VMs");
            }
            if p.get("target").is_some_and(|t| *t != node) {
                return fail(StatusCode::INTERNAL_SERVER_ERROR, format!("no such cluster node '{}'", p["target"]));
            }
            if st.vms.contains_key(&newid) {
                return fail(StatusCode::INTERNAL_SERVER_ERROR, format!("unable to create VM {newid}: config file already exists"));
            }
            let name = p.get("name").cloned().unwrap_or_else(|| format!("Copy-of-VM-{}", src.name));
            if st.fail_clone.contains(&name) {
                // Proxmox removes the half-made VM when a clone task fails.
                return st.task(&node, "qmclone", &id.to_string(), &u, Err(format!("clone failed: storage '{}' is out of space (injected)", cfg.storage)));
            }
            let mut config: BTreeMap<String, String> = src.config.iter().filter(|(k, _)| *k != "template" && *k != "tags").map(|(k, v)| (k.clone(), v.clone())).collect();
            config.insert("name".into(), name.clone());
            let disk_gib = config.get("scsi0").and_then(|d| d.split("size=").nth(1)).and_then(gib).unwrap_or(10.0);
            if full {
                st.storage_avail = st.storage_avail.saturating_sub((disk_gib as u64) << 30);
            }
            st.vms.insert(newid, Vm { vmid: newid, name: name.clone(), template: false, running: false, config, lab_vm: None });
            st.task(&node, "qmclone", &id.to_string(), &u, Ok(vec![format!("create full clone of drive scsi0 ({name})")]))
        }
        ("POST", ["config"]) => {
            let allowed: &[Param] = &[
                ("ciuser", name), ("cipassword", any), ("sshkeys", urlencoded), ("ipconfig0", ipconfig), ("nameserver", |v| v.parse::<std::net::IpAddr>().is_ok()),
                ("searchdomain", name), ("cores", integer), ("memory", memory), ("agent", agent), ("net0", net), ("tags", tags), ("description", any),
                ("name", name), ("onboot", boolean), ("digest", any),
            ];
            if let Err(a) = verify(p, allowed, &[]) {
                return a;
            }
            if let Some(k) = p.get("sshkeys") {
                let keys = percent_encoding::percent_decode_str(k).decode_utf8_lossy().into_owned();
                if !keys.lines().filter(|l| !l.trim().is_empty()).all(|l| l.starts_with("ssh-") || l.starts_with("ecdsa-")) {
                    return bad_params(BTreeMap::from([("sshkeys".into(), "invalid format - unable to parse SSH key".into())]));
                }
            }
            let vm = st.vms.get_mut(&id).map(|v| {
                for (k, v2) in p {
                    v.config.insert(k.clone(), v2.clone());
                }
            });
            let _ = vm;
            st.task(&node, "qmconfig", &id.to_string(), &u, Ok(vec!["update VM config".into()]))
        }
        ("PUT", ["resize"]) => {
            if let Err(a) = verify(p, &[("disk", |v| ["scsi0", "virtio0", "sata0", "ide0"].contains(&v)), ("size", disk_size), ("digest", any), ("skiplock", boolean)], &["disk", "size"]) {
                return a;
            }
            let Some(vm) = st.vms.get_mut(&id) else { return fail(StatusCode::INTERNAL_SERVER_ERROR, "gone") };
            let disk = &p["disk"];
            let Some(cur) = vm.config.get(disk).cloned() else { return fail(StatusCode::INTERNAL_SERVER_ERROR, format!("disk '{disk}' does not exist")) };
            let (head, size) = cur.split_once(",size=").unwrap_or((&cur, "0G"));
            let old = gib(size).unwrap_or(0.0);
            let want = &p["size"];
            let new = if let Some(d) = want.strip_prefix('+') { old + gib(d).unwrap_or(0.0) } else { gib(want).unwrap_or(0.0) };
            if new < old {
                return fail(StatusCode::INTERNAL_SERVER_ERROR, format!("unable to shrink disk size ({old}G -> {new}G)"));
            }
            vm.config.insert(disk.clone(), format!("{head},size={new}G"));
            st.task(&node, "resize", &id.to_string(), &u, Ok(vec![format!("resized {disk} to {new}G")]))
        }
        ("POST", ["status", "start"]) => {
            if let Err(a) = verify(p, &[("skiplock", boolean), ("timeout", integer)], &[]) {
                return a;
            }
            let Some(vm) = st.vms.get_mut(&id) else { return fail(StatusCode::INTERNAL_SERVER_ERROR, "gone") };
            if vm.template {
                return fail(StatusCode::INTERNAL_SERVER_ERROR, "you can't start a vm if it's a template");
            }
            if vm.running {
                return st.task(&node, "qmstart", &id.to_string(), &u, Err(format!("VM {id} already running")));
            }
            let result = match lab {
                None => Ok(()),
                Some(lab) => boot(lab, dir, vm),
            };
            match result {
                Ok(()) => {
                    vm.running = true;
                    st.task(&node, "qmstart", &id.to_string(), &u, Ok(vec![format!("start VM {id}")]))
                }
                Err(e) => st.task(&node, "qmstart", &id.to_string(), &u, Err(e)),
            }
        }
        ("POST", ["status", "stop"]) => {
            if let Err(a) = verify(p, &[("skiplock", boolean), ("timeout", integer), ("keepActive", boolean)], &[]) {
                return a;
            }
            if let Some(vm) = st.vms.get_mut(&id) {
                vm.running = false;
                vm.lab_vm = None;
            }
            st.task(&node, "qmstop", &id.to_string(), &u, Ok(vec![format!("stop VM {id}")]))
        }
        ("DELETE", []) => {
            if let Err(a) = verify(p, &[("purge", boolean), ("destroy-unreferenced-disks", boolean), ("skiplock", boolean)], &[]) {
                return a;
            }
            if st.vms.get(&id).is_some_and(|v| v.running) {
                return fail(StatusCode::INTERNAL_SERVER_ERROR, format!("VM {id} is running - destroy failed"));
            }
            st.vms.remove(&id);
            st.task(&node, "qmdestroy", &id.to_string(), &u, Ok(vec![format!("destroy VM {id}"), "purge from backup jobs and HA".into()]))
        }
        ("GET", ["agent", "network-get-interfaces"]) => {
            if let Err(a) = verify(p, &[], &[]) {
                return a;
            }
            let Some(vm) = st.vms.get(&id) else { return fail(StatusCode::INTERNAL_SERVER_ERROR, "gone") };
            match &vm.lab_vm {
                Some(l) if Lab::listening(l) => {
                    let prefix = vm.config.get("ipconfig0").and_then(|c| c.split('/').nth(1)).and_then(|r| r.split(',').next()).and_then(|p| p.parse::<u8>().ok()).unwrap_or(24);
                    ok(json!({ "result": [
                        { "name": "lo", "hardware-address": "00:00:00:00:00:00", "ip-addresses": [{ "ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8 }] },
                        { "name": "eth0", "hardware-address": "bc:24:11:00:00:01", "ip-addresses": [{ "ip-address": l.ip.to_string(), "ip-address-type": "ipv4", "prefix": prefix }] },
                    ] }))
                }
                _ => fail(StatusCode::INTERNAL_SERVER_ERROR, "QEMU guest agent is not running"),
            }
        }
        ("GET", ["agent", "file-read"]) => {
            if let Err(a) = verify(p, &[("file", any)], &["file"]) {
                return a;
            }
            let Some(vm) = st.vms.get(&id) else { return fail(StatusCode::INTERNAL_SERVER_ERROR, "gone") };
            match &vm.lab_vm {
                Some(l) if Lab::listening(l) && p["file"] == "/etc/ssh/ssh_host_ed25519_key.pub" => ok(json!({ "content": l.host_key_pub, "bytes-read": l.host_key_pub.len() })),
                Some(l) if Lab::listening(l) => fail(StatusCode::INTERNAL_SERVER_ERROR, format!("guest-file-open: No such file '{}'", p["file"])),
                _ => fail(StatusCode::INTERNAL_SERVER_ERROR, "QEMU guest agent is not running"),
            }
        }
        _ => fail(StatusCode::NOT_IMPLEMENTED, format!("Method '{m} /nodes/{node}/qemu/{id}/{}' not implemented", rest.join("/"))),
    }
}

/// cloud-init's part: address from `ipconfig0`, keys from `sshkeys`.
fn boot(lab: &Lab, dir: &Path, vm: &mut Vm) -> Result<(), String> {
    let ipc = vm.config.get("ipconfig0").ok_or("no ipconfig0: the guest would come up without an address")?;
    let cidr = ipc.split(',').find_map(|kv| kv.strip_prefix("ip=")).ok_or("ipconfig0 has no ip=")?;
    let net: ipnet::Ipv4Net = cidr.parse().map_err(|e| format!("ipconfig0 ip={cidr}: {e}"))?;
    let keys = vm.config.get("sshkeys").map(|k| percent_encoding::percent_decode_str(k).decode_utf8_lossy().into_owned()).unwrap_or_default();
    let disk = dir.join(format!("disk-{}", vm.vmid));
    let l = lab
        .start_vm(vm.vmid, net.addr(), net.prefix_len(), &keys, vm.config.get("nameserver").map(String::as_str), &disk)
        .map_err(|e| format!("start failed: {e}"))?;
    if !l.wait_listening(std::time::Duration::from_secs(10)) {
        return Err(format!("start failed: sshd on {} did not listen; see {}/sshd.log", net.addr(), disk.display()));
    }
    vm.lab_vm = Some(l);
    Ok(())
}
