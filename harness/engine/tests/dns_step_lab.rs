//! Lab tier: the `dnsRecord` step executor against the shared
//! Cloudflare-compatible fake backed by a real authoritative server (Knot)
//! on loopback. This file plays external-dns (it writes the records through
//! the API); the step only reads and resolves.
//!
//! Needs `knotd`/`knotc` (`.ci/install-lab-bgpdns`); no root.

use std::time::Duration;

use infraflux_engine::dns::cloudflare::{Client, RecordFilter, RecordInput};
use infraflux_testkit::cloudflare_api::{CloudflareFake, FakeConfig};
use infraflux_engine::dns::lifecycle;
use infraflux_engine::StepError;
use infraflux_engine::steps::dns::{self, DnsSettings};
use infraflux_model::secret::Secret;
use infraflux_model::suite::model::{DnsRecord, RecordState};

const ZONE: &str = "steps.infraflux.test";
const OWNER: &str = "infraflux-k8s";

fn token() -> Secret {
    let s = format!("{:032x}", rand::random::<u128>());
    infraflux_model::secret::register(&s);
    Secret::new(s)
}

fn step(record: &str, content: Option<&str>, state: RecordState) -> DnsRecord {
    DnsRecord {
        name: None,
        record: record.into(),
        rtype: "A".into(),
        content: content.map(str::to_owned),
        proxied: false,
        ttl: None,
        state,
        metric: None,
        timeout: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_record_step_sees_publish_and_removal_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let token = token();
    let foreign = RecordInput::new("A", &format!("www.{ZONE}"), "10.198.210.10").ttl(300);
    let fake = CloudflareFake::start(
        FakeConfig { zone: ZONE.into(), token: token.clone(), edge_addresses: vec!["203.0.113.10".parse().unwrap()], seed: vec![foreign] },
        dir.path(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e} (is knot installed? run .ci/install-lab-bgpdns)"));
    let settings = DnsSettings {
        api_base: fake.base_url(),
        token: token.clone(),
        zone: ZONE.into(),
        authoritative: fake.dns_addr(),
        owner: OWNER.into(),
    };
    let client = Client::new(&fake.base_url(), token.clone()).unwrap();
    let zone_id = client.zone_id(ZONE).await.unwrap();
    let all = RecordFilter { name: None, rtype: None, content: None };
    let name = format!("app.{ZONE}");

    // Not published yet: the step waits and then reports what it last saw.
    let early = dns::execute(&settings, &step(&name, Some("10.198.210.50"), RecordState::Present), Duration::from_millis(600)).await;
    match early {
        Err(e) if e.is_timeout() => {
            let m = e.to_string();
            assert!(m.contains("no A record with content 10.198.210.50"), "{m}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }

    // external-dns's part: the record and its TXT registry record.
    let rec = client.create_record(&zone_id, &RecordInput::new("A", &name, "10.198.210.50").ttl(1)).await.unwrap();
    let txt = client
        .create_record(
            &zone_id,
            &RecordInput::new("TXT", &lifecycle::registry_name("A", &name), &lifecycle::registry_value(OWNER, "service/ns/published")),
        )
        .await
        .unwrap();
    let before = client.list_records(&zone_id, &all).await.unwrap();

    let seen = dns::execute(&settings, &step(&name, Some("10.198.210.50"), RecordState::Present), Duration::from_secs(10))
        .await
        .expect("present");
    assert!(seen.note.contains("10.198.210.50") && seen.note.contains("owner record"), "{}", seen.note);

    // Wrong expectations fail with the difference, never with the token.
    let mut wrong_ttl = step(&name, Some("10.198.210.50"), RecordState::Present);
    wrong_ttl.ttl = Some(300);
    match dns::execute(&settings, &wrong_ttl, Duration::from_millis(500)).await {
        Err(e @ StepError::Dns { .. }) if e.is_timeout() => {
            let m = e.to_string();
            assert!(m.contains("ttl is 1, expected 300"), "{m}");
            assert!(!m.contains(token.expose()), "token leaked: {m}");
        }
        other => panic!("expected a ttl mismatch, got {other:?}"),
    }
    let mut wrong_owner = settings.clone();
    wrong_owner.owner = "someone-else".into();
    assert!(dns::execute(&wrong_owner, &step(&name, Some("10.198.210.50"), RecordState::Present), Duration::from_millis(500)).await.is_err());

    // Still there, so "absent" must not pass.
    assert!(dns::execute(&settings, &step(&name, None, RecordState::Absent), Duration::from_millis(500)).await.is_err());
    // The step wrote nothing.
    assert_eq!(client.list_records(&zone_id, &all).await.unwrap(), before);

    client.delete_record(&zone_id, &rec.id).await.unwrap();
    client.delete_record(&zone_id, &txt.id).await.unwrap();
    let gone = dns::execute(&settings, &step(&name, None, RecordState::Absent), Duration::from_secs(10))
        .await
        .expect("absent");
    assert!(gone.note.contains("gone"), "{}", gone.note);
    // The foreign record is untouched.
    let www = client
        .list_records(&zone_id, &RecordFilter { name: Some(format!("www.{ZONE}")), rtype: Some("A".into()), content: None })
        .await
        .unwrap();
    assert_eq!(www.len(), 1);
    assert_eq!(www[0].content, "10.198.210.10");
}
