//! What the DNS suite expects of an external-dns-managed record, and the
//! ownership guard.
//!
//! external-dns (v0.18 and later) records ownership in a TXT record named
//! `<type>-<name>` (e.g. `a-app.example.com`, `cname-…`) whose value is
//! `"heritage=external-dns,external-dns/owner=<owner-id>,external-dns/resource=<kind/ns/name>"`.
//! The guard here reads that record and refuses to change anything whose
//! owner is not ours, so the harness never edits records it did not create.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};

use super::cloudflare::{Client, DnsRecord, RecordFilter, RecordInput};
use super::{Error, Result};

/// The TXT registry record name external-dns uses for a record.
pub fn registry_name(rtype: &str, name: &str) -> String {
    format!("{}-{}", rtype.to_ascii_lowercase(), name.trim_end_matches('.'))
}

/// The TXT registry value (quoted, as external-dns writes it).
pub fn registry_value(owner: &str, resource: &str) -> String {
    format!("\"heritage=external-dns,external-dns/owner={owner},external-dns/resource={resource}\"")
}

/// The owner named by a TXT registry value, if it is an external-dns one.
pub fn registry_owner(value: &str) -> Option<String> {
    let v = value.trim().trim_matches('"');
    let mut heritage = false;
    let mut owner = None;
    for kv in v.split(',') {
        match kv.split_once('=') {
            Some(("heritage", "external-dns")) => heritage = true,
            Some(("external-dns/owner", o)) => owner = Some(o.to_string()),
            _ => {}
        }
    }
    if heritage { owner } else { None }
}

/// What a managed record should look like.
#[derive(Debug, Clone)]
pub struct Expectation {
    pub name: String,
    pub rtype: String,
    pub content: String,
    pub proxied: bool,
    /// Expected TTL; proxied records must have 1 ("automatic").
    pub ttl: u32,
    /// The external-dns owner id (`--txt-owner-id`).
    pub owner: String,
}

/// The managed record and its ownership record as the API shows them.
#[derive(Debug, Clone)]
pub struct Observation {
    pub record: DnsRecord,
    pub registry: DnsRecord,
}

/// Checks the API's view against `exp`; every difference is listed.
pub async fn observe(client: &Client, zone_id: &str, exp: &Expectation) -> Result<Observation> {
    let recs = client
        .list_records(
            zone_id,
            &RecordFilter {
                name: Some(exp.name.clone()),
                rtype: Some(exp.rtype.clone()),
                content: None,
            },
        )
        .await?;
    let mut problems = Vec::new();
    let record = match recs.iter().find(|r| r.content == exp.content) {
        Some(r) => Some(r.clone()),
        None => {
            problems.push(format!(
                "no {} record with content {} (found: {:?})",
                exp.rtype,
                exp.content,
                recs.iter().map(|r| r.content.as_str()).collect::<Vec<_>>()
            ));
            None
        }
    };
    if let Some(r) = &record {
        if r.proxied != exp.proxied {
            problems.push(format!("proxied is {}, expected {}", r.proxied, exp.proxied));
        }
        let want_ttl = if exp.proxied { 1 } else { exp.ttl };
        if r.ttl != want_ttl {
            problems.push(format!("ttl is {}, expected {want_ttl}", r.ttl));
        }
    }
    let registry = owner_record(client, zone_id, &exp.rtype, &exp.name).await?;
    match &registry {
        Some((_, owner)) if *owner == exp.owner => {}
        Some((_, owner)) => problems.push(format!("owned by {owner}, expected {}", exp.owner)),
        None => problems.push(format!(
            "no TXT ownership record {} with external-dns/owner={}",
            registry_name(&exp.rtype, &exp.name),
            exp.owner
        )),
    }
    match (record, registry, problems.is_empty()) {
        (Some(record), Some((registry, _)), true) => Ok(Observation { record, registry }),
        _ => Err(Error::Mismatch {
            name: exp.name.clone(),
            rtype: exp.rtype.clone(),
            problems,
        }),
    }
}

async fn owner_record(client: &Client, zone_id: &str, rtype: &str, name: &str) -> Result<Option<(DnsRecord, String)>> {
    let txt = client
        .list_records(
            zone_id,
            &RecordFilter {
                name: Some(registry_name(rtype, name)),
                rtype: Some("TXT".into()),
                content: None,
            },
        )
        .await?;
    Ok(txt
        .into_iter()
        .find_map(|r| registry_owner(&r.content).map(|o| (r, o))))
}

/// Polls [`observe`] until it matches; returns the observation and the time it took.
pub async fn wait_observed(client: &Client, zone_id: &str, exp: &Expectation, timeout: Duration) -> Result<(Observation, Duration)> {
    let t0 = Instant::now();
    loop {
        let last = match observe(client, zone_id, exp).await {
            Ok(o) => return Ok((o, t0.elapsed())),
            Err(e) => e.to_string(),
        };
        if t0.elapsed() >= timeout {
            return Err(Error::Timeout {
                what: format!("{} {} in the dns api", exp.rtype, exp.name),
                timeout,
                last,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A resolver that asks only `server` (the zone's authoritative server)
/// and caches nothing, so every poll sees the server's current answer.
pub fn authoritative_resolver(server: SocketAddr) -> Result<TokioResolver> {
    let mut udp = ConnectionConfig::udp();
    udp.port = server.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = server.port();
    let ns = NameServerConfig::new(server.ip(), true, vec![udp, tcp]);
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.timeout = Duration::from_secs(2);
    opts.attempts = 1;
    opts.recursion_desired = false;
    TokioResolver::builder_with_config(ResolverConfig::from_name_servers(vec![ns]), TokioRuntimeProvider::default())
        .with_options(opts)
        .build()
        .map_err(|e| Error::Resolver(e.to_string()))
}

/// The answer values for `name`/`rtype` (A as dotted quads, TXT joined),
/// `Ok(None)` when the server says the name or type does not exist.
pub async fn answers(resolver: &TokioResolver, name: &str, rtype: RecordType) -> Result<Option<Vec<String>>> {
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    match resolver.lookup(fqdn.as_str(), rtype).await {
        Ok(l) => {
            let mut v: Vec<String> = l
                .answers()
                .iter()
                .filter(|r| r.record_type() == rtype)
                .map(|r| match &r.data {
                    RData::TXT(t) => t.txt_data.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect::<String>(),
                    other => other.to_string(),
                })
                .collect();
            v.sort();
            Ok(Some(v))
        }
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(None),
        Err(e) => Err(Error::Resolver(format!("failed to resolve {fqdn} {rtype}: {e}"))),
    }
}

/// Waits until `name` answers exactly `want` (sorted); returns the time it took.
pub async fn wait_resolves(resolver: &TokioResolver, name: &str, rtype: RecordType, want: &[String], timeout: Duration) -> Result<Duration> {
    let mut want = want.to_vec();
    want.sort();
    let t0 = Instant::now();
    loop {
        let last = match answers(resolver, name, rtype).await {
            Ok(Some(got)) if got == want => return Ok(t0.elapsed()),
            Ok(got) => format!("{got:?}"),
            Err(e) => e.to_string(),
        };
        if t0.elapsed() >= timeout {
            return Err(Error::Timeout {
                what: format!("{name} {rtype} to resolve to {want:?}"),
                timeout,
                last,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the server answers "no such record" for `name`; a server
/// failure does not count as gone.
pub async fn wait_gone(resolver: &TokioResolver, name: &str, rtype: RecordType, timeout: Duration) -> Result<Duration> {
    let t0 = Instant::now();
    loop {
        let last = match answers(resolver, name, rtype).await {
            Ok(None) => return Ok(t0.elapsed()),
            Ok(Some(v)) => format!("{v:?}"),
            Err(e) => e.to_string(),
        };
        if t0.elapsed() >= timeout {
            return Err(Error::Timeout {
                what: format!("{name} {rtype} to be gone"),
                timeout,
                last,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Changes records only when their TXT registry record names `owner`.
#[derive(Debug, Clone)]
pub struct OwnershipGuard {
    pub owner: String,
}

impl OwnershipGuard {
    pub fn new(owner: &str) -> Self {
        OwnershipGuard { owner: owner.to_string() }
    }

    async fn check(&self, client: &Client, zone_id: &str, rtype: &str, name: &str) -> Result<DnsRecord> {
        match owner_record(client, zone_id, rtype, name).await? {
            Some((txt, o)) if o == self.owner => Ok(txt),
            Some((_, o)) => Err(Error::NotOwned {
                name: name.into(),
                rtype: rtype.into(),
                reason: format!("it is owned by {o}, not {}", self.owner),
            }),
            None => Err(Error::NotOwned {
                name: name.into(),
                rtype: rtype.into(),
                reason: format!("it has no ownership record {}", registry_name(rtype, name)),
            }),
        }
    }

    /// Deletes every `rtype` record at `name` and then its ownership record,
    /// after checking the owner. Returns how many records were deleted.
    pub async fn delete(&self, client: &Client, zone_id: &str, rtype: &str, name: &str) -> Result<usize> {
        let txt = self.check(client, zone_id, rtype, name).await?;
        let recs = client
            .list_records(
                zone_id,
                &RecordFilter {
                    name: Some(name.into()),
                    rtype: Some(rtype.into()),
                    content: None,
                },
            )
            .await?;
        for r in &recs {
            client.delete_record(zone_id, &r.id).await?;
        }
        // The ownership record goes last, so a failed run can still be cleaned up.
        client.delete_record(zone_id, &txt.id).await?;
        Ok(recs.len() + 1)
    }

    /// Updates record `id` (which must be an owned `rtype` at `name`).
    pub async fn update(&self, client: &Client, zone_id: &str, id: &str, input: &RecordInput) -> Result<DnsRecord> {
        let current = client.get_record(zone_id, id).await?;
        self.check(client, zone_id, &current.rtype, &current.name).await?;
        client.patch_record(zone_id, id, input).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_record_roundtrips_owner() {
        assert_eq!(registry_name("A", "app.lab.test."), "a-app.lab.test");
        let v = registry_value("infraflux-k8s", "service/default/web");
        assert_eq!(registry_owner(&v).as_deref(), Some("infraflux-k8s"));
        assert_eq!(registry_owner("\"external-dns/owner=x\""), None, "heritage is required");
        assert_eq!(registry_owner("\"v=spf1 -all\""), None);
    }
}
