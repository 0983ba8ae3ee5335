//! The Proxmox VE API calls the provider makes, and nothing else: each is a
//! method on [`Client`] named after what it does, with the parameters the
//! API viewer documents for that path. Every call that answers with a task
//! id (UPID) is followed to `stopped`; an exit status other than `OK` is an
//! error carrying the task log.
//!
//! The token travels only in the `Authorization` header, marked sensitive,
//! and is registered with the redactor when resolved; no error or log line
//! built here contains it.

use std::time::{Duration, Instant};

use infraflux_model::secret::Secret;
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde_json::Value;

use super::tls::{Trust, client_config};

/// Bound on one HTTP request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Between two task-status polls.
const TASK_POLL: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Tls(#[from] super::tls::TlsError),
    #[error("failed to build the HTTP client: {0}")]
    Client(String),
    #[error("{call}: {message}")]
    Transport { call: String, message: String },
    #[error("{call}: authentication failed (401); check tokenId and the token secret")]
    Unauthorized { call: String },
    #[error("{call}: permission denied (403): {message}; see the README's Proxmox section for the token's privileges")]
    Forbidden { call: String, message: String },
    #[error("{call}: HTTP {status}: {message}")]
    Status { call: String, status: u16, message: String },
    #[error("{call}: task {upid} ended with `{exit}`; task log:\n{log}")]
    Task { call: String, upid: String, exit: String, log: String },
    #[error("{call}: task {upid} still running after {secs}s")]
    TaskTimeout { call: String, upid: String, secs: u64 },
    #[error("{call}: unexpected answer: {why}")]
    Shape { call: String, why: String },
}

/// One VM as `/cluster/resources?type=vm` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmInfo {
    pub vmid: u32,
    pub name: String,
    pub node: String,
    pub running: bool,
    pub template: bool,
    pub tags: Vec<String>,
}

/// Free and total bytes of a storage on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageStatus {
    pub avail: u64,
    pub total: u64,
}

/// An authenticated connection to one API endpoint.
pub struct Client {
    http: reqwest::Client,
    /// `https://host:8006/api2/json`, no trailing slash.
    base: String,
    auth: HeaderValue,
    task_timeout: Duration,
    /// Told every call before it is made (`GET /cluster/nextid`).
    on_call: Box<dyn Fn(&str) + Send + Sync>,
}

impl Client {
    pub fn new(endpoint: &str, token_id: &str, token: &Secret, trust: &Trust, task_timeout: Duration) -> Result<Client, ApiError> {
        let tls = client_config(trust)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ApiError::Client(e.to_string()))?;
        // The whole header value is a secret of its own: a server echoing it
        // back must be redacted as well as the bare token.
        let header = Secret::new(format!("PVEAPIToken={token_id}={}", token.expose()));
        let mut auth = HeaderValue::from_str(header.expose()).map_err(|_| ApiError::Client("the token id or secret is not a valid header value".into()))?;
        auth.set_sensitive(true);
        Ok(Client {
            http,
            base: endpoint.trim_end_matches('/').to_owned(),
            auth,
            task_timeout,
            on_call: Box::new(|_| {}),
        })
    }

    /// Reports each call (method, path, parameter names and values; never
    /// the header) before it is sent.
    pub fn on_call(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Client {
        self.on_call = Box::new(f);
        self
    }

    async fn call(&self, method: Method, path: &str, params: &[(&str, String)]) -> Result<Value, ApiError> {
        let call = describe(&method, path, params);
        (self.on_call)(&call);
        let url = format!("{}{path}", self.base);
        let req = self.http.request(method.clone(), &url).header(AUTHORIZATION, self.auth.clone());
        // Proxmox reads POST/PUT parameters from a form body, GET/DELETE
        // parameters from the query string.
        let req = if method == Method::POST || method == Method::PUT { req.form(params) } else { req.query(params) };
        let resp = req.send().await.map_err(|e| ApiError::Transport { call: call.clone(), message: error_chain(&e) })?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        match status.as_u16() {
            200 => Ok(body.get("data").cloned().unwrap_or(Value::Null)),
            401 => Err(ApiError::Unauthorized { call }),
            403 => Err(ApiError::Forbidden { call, message: message_of(&body, status) }),
            code => Err(ApiError::Status { call, status: code, message: message_of(&body, status) }),
        }
    }

    /// Follows `upid` (the answer of `call`) until its task stops.
    async fn follow(&self, call: &str, node: &str, answer: Value) -> Result<(), ApiError> {
        let Some(upid) = answer.as_str().filter(|u| u.starts_with("UPID:")) else {
            // Some calls (resize before PVE 8) finish synchronously: nothing to follow.
            return if answer.is_null() { Ok(()) } else { Err(ApiError::Shape { call: call.into(), why: format!("expected a task id, got {answer}") }) };
        };
        let enc = encode_segment(upid);
        let deadline = Instant::now() + self.task_timeout;
        loop {
            let st = self.call(Method::GET, &format!("/nodes/{node}/tasks/{enc}/status"), &[]).await?;
            if st.get("status").and_then(Value::as_str) == Some("stopped") {
                let exit = st.get("exitstatus").and_then(Value::as_str).unwrap_or("").to_owned();
                if exit == "OK" {
                    return Ok(());
                }
                let log = self.task_log(node, &enc).await;
                return Err(ApiError::Task { call: call.into(), upid: upid.into(), exit, log });
            }
            if Instant::now() >= deadline {
                return Err(ApiError::TaskTimeout { call: call.into(), upid: upid.into(), secs: self.task_timeout.as_secs() });
            }
            tokio::time::sleep(TASK_POLL).await;
        }
    }

    async fn task_log(&self, node: &str, enc_upid: &str) -> String {
        match self.call(Method::GET, &format!("/nodes/{node}/tasks/{enc_upid}/log"), &[("limit", "500".into())]).await {
            Ok(Value::Array(lines)) => lines.iter().filter_map(|l| l.get("t").and_then(Value::as_str)).collect::<Vec<_>>().join("\n"),
            Ok(other) => format!("(unexpected log answer: {other})"),
            Err(e) => format!("(task log unavailable: {e})"),
        }
    }

    async fn call_task(&self, method: Method, node: &str, path: &str, params: &[(&str, String)]) -> Result<(), ApiError> {
        let call = describe(&method, path, params);
        let answer = self.call(method, path, params).await?;
        self.follow(&call, node, answer).await
    }

    /// `GET /cluster/nextid`: the next free VMID.
    pub async fn next_id(&self) -> Result<u32, ApiError> {
        let v = self.call(Method::GET, "/cluster/nextid", &[]).await?;
        // Documented as an integer; Proxmox sends it as a string.
        let id = v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
        id.and_then(|i| u32::try_from(i).ok()).ok_or_else(|| ApiError::Shape { call: "GET /cluster/nextid".into(), why: format!("not a VMID: {v}") })
    }

    /// `GET /cluster/resources?type=vm`.
    pub async fn vms(&self) -> Result<Vec<VmInfo>, ApiError> {
        let v = self.call(Method::GET, "/cluster/resources", &[("type", "vm".into())]).await?;
        let list = v.as_array().ok_or_else(|| ApiError::Shape { call: "GET /cluster/resources".into(), why: "not a list".into() })?;
        Ok(list
            .iter()
            .filter(|r| r.get("type").and_then(Value::as_str) == Some("qemu"))
            .filter_map(|r| {
                Some(VmInfo {
                    vmid: u32::try_from(r.get("vmid")?.as_u64()?).ok()?,
                    name: r.get("name").and_then(Value::as_str).unwrap_or("").to_owned(),
                    node: r.get("node").and_then(Value::as_str).unwrap_or("").to_owned(),
                    running: r.get("status").and_then(Value::as_str) == Some("running"),
                    template: r.get("template").and_then(Value::as_u64) == Some(1),
                    tags: split_tags(r.get("tags").and_then(Value::as_str).unwrap_or("")),
                })
            })
            .collect())
    }

    /// `GET /nodes/{node}/storage/{storage}/status`.
    pub async fn storage_status(&self, node: &str, storage: &str) -> Result<StorageStatus, ApiError> {
        let path = format!("/nodes/{node}/storage/{storage}/status");
        let v = self.call(Method::GET, &path, &[]).await?;
        let n = |k: &str| v.get(k).and_then(Value::as_u64);
        match (n("avail"), n("total")) {
            (Some(avail), Some(total)) => Ok(StorageStatus { avail, total }),
            _ => Err(ApiError::Shape { call: format!("GET {path}"), why: format!("no avail/total in {v}") }),
        }
    }

    /// `POST /nodes/{node}/qemu/{vmid}/clone`, followed to its end.
    pub async fn clone_vm(&self, node: &str, template: u32, params: &[(&str, String)]) -> Result<(), ApiError> {
        self.call_task(Method::POST, node, &format!("/nodes/{node}/qemu/{template}/clone"), params).await
    }

    /// `POST /nodes/{node}/qemu/{vmid}/config` (the asynchronous variant).
    pub async fn configure(&self, node: &str, vmid: u32, params: &[(&str, String)]) -> Result<(), ApiError> {
        self.call_task(Method::POST, node, &format!("/nodes/{node}/qemu/{vmid}/config"), params).await
    }

    /// `PUT /nodes/{node}/qemu/{vmid}/resize`.
    pub async fn resize(&self, node: &str, vmid: u32, params: &[(&str, String)]) -> Result<(), ApiError> {
        self.call_task(Method::PUT, node, &format!("/nodes/{node}/qemu/{vmid}/resize"), params).await
    }

    /// `POST /nodes/{node}/qemu/{vmid}/status/start`.
    pub async fn start(&self, node: &str, vmid: u32) -> Result<(), ApiError> {
        self.call_task(Method::POST, node, &format!("/nodes/{node}/qemu/{vmid}/status/start"), &[]).await
    }

    /// `POST /nodes/{node}/qemu/{vmid}/status/stop` (hard stop: the VM is
    /// destroyed next).
    pub async fn stop(&self, node: &str, vmid: u32) -> Result<(), ApiError> {
        self.call_task(Method::POST, node, &format!("/nodes/{node}/qemu/{vmid}/status/stop"), &[]).await
    }

    /// `DELETE /nodes/{node}/qemu/{vmid}` with its disks purged.
    pub async fn destroy(&self, node: &str, vmid: u32) -> Result<(), ApiError> {
        let params = destroy_params();
        self.call_task(Method::DELETE, node, &format!("/nodes/{node}/qemu/{vmid}"), &params).await
    }

    /// `GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces`: the
    /// guest's IPv4 addresses as its agent reports them.
    pub async fn agent_addresses(&self, node: &str, vmid: u32) -> Result<Vec<String>, ApiError> {
        let path = format!("/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces");
        let v = self.call(Method::GET, &path, &[]).await?;
        let list = v.get("result").and_then(Value::as_array).ok_or_else(|| ApiError::Shape { call: format!("GET {path}"), why: "no result list".into() })?;
        Ok(list
            .iter()
            .flat_map(|i| i.get("ip-addresses").and_then(Value::as_array).into_iter().flatten())
            .filter(|a| a.get("ip-address-type").and_then(Value::as_str) == Some("ipv4"))
            .filter_map(|a| a.get("ip-address").and_then(Value::as_str).map(str::to_owned))
            .collect())
    }

    /// `GET /nodes/{node}/qemu/{vmid}/agent/file-read`: a file from inside
    /// the guest through the QEMU guest agent (how SSH host keys are read
    /// over a channel that is already authenticated).
    pub async fn agent_file_read(&self, node: &str, vmid: u32, file: &str) -> Result<String, ApiError> {
        let path = format!("/nodes/{node}/qemu/{vmid}/agent/file-read");
        let v = self.call(Method::GET, &path, &[("file", file.to_owned())]).await?;
        v.get("content")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ApiError::Shape { call: format!("GET {path}"), why: "no content".into() })
    }
}

/// `purge` removes the VM from backup jobs and HA, `destroy-unreferenced-disks`
/// the disks its config no longer names.
pub fn destroy_params() -> Vec<(&'static str, String)> {
    vec![("purge", "1".into()), ("destroy-unreferenced-disks", "1".into())]
}

/// `METHOD /path name=value …` (values as sent).
pub fn describe(method: &Method, path: &str, params: &[(&str, String)]) -> String {
    let mut s = format!("{method} {path}");
    for (k, v) in params {
        s.push_str(&format!(" {k}={v}"));
    }
    s
}

/// Tags as Proxmox stores them: `;`-separated (`,` and spaces accepted).
pub fn split_tags(text: &str) -> Vec<String> {
    text.split([';', ',', ' ']).filter(|t| !t.is_empty()).map(str::to_owned).collect()
}

/// The `sshkeys` value: Proxmox wants the keys percent-encoded inside the
/// (itself encoded) form body, spaces as `%20`, never `+`.
pub fn encode_sshkeys(keys: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const KEEP: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    utf8_percent_encode(keys, KEEP).to_string()
}

/// A UPID as one path segment (it contains `:`, which is fine, and no `/`).
fn encode_segment(upid: &str) -> String {
    use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
    const SEG: &AsciiSet = &CONTROLS.add(b'/').add(b'?').add(b'#').add(b' ').add(b'%');
    utf8_percent_encode(upid, SEG).to_string()
}

/// Proxmox puts the reason in `message` (and per-parameter reasons in
/// `errors`); older versions only in the HTTP reason phrase.
fn message_of(body: &Value, status: reqwest::StatusCode) -> String {
    let mut parts = Vec::new();
    if let Some(m) = body.get("message").and_then(Value::as_str) {
        parts.push(m.trim().to_owned());
    }
    if let Some(errs) = body.get("errors").and_then(Value::as_object) {
        for (k, v) in errs {
            parts.push(format!("{k}: {}", v.as_str().map(str::trim).unwrap_or_default()));
        }
    }
    if parts.is_empty() {
        parts.push(status.canonical_reason().unwrap_or("error").to_owned());
    }
    parts.join("; ")
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(&format!(": {c}"));
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sshkeys_are_percent_encoded_with_spaces_as_percent_20() {
        let enc = encode_sshkeys("ssh-ed25519 AAAA+b/c= me@host\n");
        assert_eq!(enc, "ssh-ed25519%20AAAA%2Bb%2Fc%3D%20me%40host%0A");
    }

    #[test]
    fn tags_split_on_every_separator_proxmox_accepts() {
        assert_eq!(split_tags("a;b,c d"), ["a", "b", "c", "d"]);
        assert!(split_tags("").is_empty());
    }
}
