//! Executor of the `dnsRecord` step: the DNS lifecycle checks of
//! [`crate::dns::lifecycle`] against the run's DNS provider API and the
//! zone's authoritative server.
//!
//! Read only by construction: it lists records and resolves names, and
//! never creates, updates or deletes a record, so it cannot touch a record
//! the run did not create. external-dns does the writing.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use hickory_resolver::proto::rr::RecordType;
use tokio::time::Instant;

use crate::backend::StepError;
use crate::dns::cloudflare::{Client, RecordFilter};
use crate::dns::lifecycle::{self, Expectation};
use crate::secret::Secret;
use crate::suite::model::{DnsRecord, RecordState};

/// Where the run's records live. The token comes from the profile's
/// SecretRef; it is only ever handed to [`Client`], whose errors never
/// contain it.
#[derive(Debug, Clone)]
pub struct DnsSettings {
    /// API base URL, e.g. `https://api.cloudflare.com/client/v4`.
    pub api_base: String,
    pub token: Secret,
    /// Zone name, e.g. `example.com`.
    pub zone: String,
    /// One of the zone's authoritative servers.
    pub authoritative: SocketAddr,
    /// external-dns's `--txt-owner-id`.
    pub owner: String,
}

/// Cloudflare's public API, the default `api_base`.
pub const CLOUDFLARE_API: &str = "https://api.cloudflare.com/client/v4";

/// What the step saw: a note for the report and how long it waited.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsOutcome {
    pub note: String,
    pub elapsed: Duration,
}


/// Runs one (already templated) `dnsRecord` step within `timeout`.
pub async fn execute(s: &DnsSettings, d: &DnsRecord, timeout: Duration) -> Result<DnsOutcome, StepError> {
    let started = Instant::now();
    let left = || timeout.saturating_sub(started.elapsed());
    let from_dns = |source: crate::dns::Error| StepError::Dns { record: d.record.clone(), source };
    let rtype =
        RecordType::from_str(&d.rtype).map_err(|_| StepError::invalid(format!("unknown record type `{}`", d.rtype)))?;
    let client = Client::new(&s.api_base, s.token.clone()).map_err(from_dns)?;
    let zone_id = client.zone_id(&s.zone).await.map_err(from_dns)?;
    let resolver = lifecycle::authoritative_resolver(s.authoritative).map_err(from_dns)?;
    match d.state {
        RecordState::Present => {
            let content = d.content.clone().ok_or_else(|| StepError::invalid("a present record needs `content`"))?;
            let exp = Expectation {
                name: d.record.clone(),
                rtype: d.rtype.clone(),
                content: content.clone(),
                proxied: d.proxied,
                // external-dns writes TTL 1 ("automatic") unless told otherwise.
                ttl: d.ttl.unwrap_or(1),
                owner: s.owner.clone(),
            };
            let (obs, in_api) = lifecycle::wait_observed(&client, &zone_id, &exp, left()).await.map_err(from_dns)?;
            // A proxied name answers with the provider's edge addresses,
            // never the origin, so only its presence is checked.
            if d.proxied {
                wait_answers(&resolver, &d.record, rtype, left()).await?;
            } else {
                lifecycle::wait_resolves(&resolver, &d.record, rtype, &[content], left())
                    .await
                    .map_err(from_dns)?;
            }
            let elapsed = started.elapsed();
            Ok(DnsOutcome {
                note: format!(
                    "{} {} = {} (proxied {}, ttl {}, owner record {}) in the api after {}ms, resolving after {}ms",
                    d.rtype,
                    d.record,
                    obs.record.content,
                    obs.record.proxied,
                    obs.record.ttl,
                    obs.registry.name,
                    in_api.as_millis(),
                    elapsed.as_millis()
                ),
                elapsed,
            })
        }
        RecordState::Absent => {
            let filter = RecordFilter {
                name: Some(d.record.clone()),
                rtype: Some(d.rtype.clone()),
                content: None,
            };
            loop {
                let recs = client.list_records(&zone_id, &filter).await.map_err(from_dns)?;
                if recs.is_empty() {
                    break;
                }
                if left().is_zero() {
                    return Err(StepError::TimedOut {
                        what: format!("{} {} to leave the dns api", d.rtype, d.record),
                        after: timeout,
                        last_seen: Some(format!("{:?}", recs.iter().map(|r| r.content.as_str()).collect::<Vec<_>>())),
                    });
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            lifecycle::wait_gone(&resolver, &d.record, rtype, left()).await.map_err(from_dns)?;
            let elapsed = started.elapsed();
            Ok(DnsOutcome {
                note: format!("{} {} gone from the api and the authoritative server after {}ms", d.rtype, d.record, elapsed.as_millis()),
                elapsed,
            })
        }
    }
}

async fn wait_answers(
    resolver: &hickory_resolver::TokioResolver,
    name: &str,
    rtype: RecordType,
    timeout: Duration,
) -> Result<(), StepError> {
    let t0 = Instant::now();
    loop {
        let last = match lifecycle::answers(resolver, name, rtype).await {
            Ok(Some(v)) if !v.is_empty() => return Ok(()),
            Ok(v) => format!("{v:?}"),
            Err(e) => e.to_string(),
        };
        if t0.elapsed() >= timeout {
            return Err(StepError::TimedOut {
                what: format!("{name} {rtype} to resolve"),
                after: timeout,
                last_seen: Some(last),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
