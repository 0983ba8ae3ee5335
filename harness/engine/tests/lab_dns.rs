//! Lab tier: the DNS lifecycle against the Cloudflare-compatible test API
//! backed by a real authoritative server (Knot) on loopback.
//!
//! In the real suite external-dns creates and deletes the records. Here a
//! small controller in this file plays external-dns's part through the same
//! API (record + TXT registry record in external-dns's current format), so
//! the suite's lifecycle logic — observe, resolve, ownership guard, delete,
//! time-to-visible/gone — runs end to end against real DNS answers. It does
//! not prove anything about external-dns itself.
//!
//! Needs `knotd`/`knotc` (`.ci/install-lab-bgpdns`); no root.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test-crate helpers: a failed setup step is the test failure"
)]

use std::time::{Duration, Instant};

use hickory_resolver::proto::rr::RecordType;
use infraflux_engine::dns::Error;
use infraflux_engine::dns::cloudflare::{Client, DnsRecord, RecordFilter, RecordInput};
use infraflux_testkit::cloudflare_api::{CloudflareFake, FakeConfig};
use infraflux_engine::dns::lifecycle::{self, Expectation, OwnershipGuard};
use infraflux_model::secret::Secret;

const ZONE: &str = "lab.infraflux.test";
const OWNER: &str = "infraflux-k8s";
const BOUND: Duration = Duration::from_secs(10);

fn fq(host: &str) -> String {
    format!("{host}.{ZONE}")
}

fn token() -> Secret {
    let v: u128 = rand::random();
    let s = format!("{v:032x}{:08x}", rand::random::<u32>());
    infraflux_model::secret::register(&s);
    Secret::new(s)
}

/// Records that belong to someone else and must never change.
fn foreign_seed() -> Vec<RecordInput> {
    vec![
        RecordInput::new("A", &fq("www"), "10.198.200.10").ttl(300),
        RecordInput::new("TXT", ZONE, "\"v=spf1 -all\"").ttl(3600),
        RecordInput::new("CNAME", &fq("docs"), &fq("www")).ttl(300),
        // Managed by another external-dns instance: the guard must refuse it too.
        RecordInput::new("A", &fq("other"), "10.198.200.20").ttl(120),
        RecordInput::new(
            "TXT",
            &lifecycle::registry_name("A", &fq("other")),
            &lifecycle::registry_value("someone-else", "service/team/other"),
        ),
    ]
}

struct Lab {
    _dir: tempfile::TempDir,
    fake: CloudflareFake,
    token: Secret,
}

async fn lab() -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let token = token();
    let cfg = FakeConfig {
        zone: ZONE.into(),
        token: token.clone(),
        // Edge answers for proxied names: only ever DNS data, never contacted.
        edge_addresses: vec!["203.0.113.10".parse().unwrap(), "203.0.113.11".parse().unwrap()],
        seed: foreign_seed(),
    };
    let fake = CloudflareFake::start(cfg, dir.path())
        .await
        .unwrap_or_else(|e| panic!("{e} (is knot installed? run .ci/install-lab-bgpdns)"));
    Lab { _dir: dir, fake, token }
}

/// Stand-in for external-dns: publishes a record plus its TXT registry record.
async fn publish(client: &Client, zone_id: &str, name: &str, target: &str, proxied: bool, ttl: u32) -> Result<DnsRecord, Error> {
    let rec = client
        .create_record(zone_id, &RecordInput::new("A", name, target).proxied(proxied).ttl(ttl))
        .await?;
    client
        .create_record(
            zone_id,
            &RecordInput::new(
                "TXT",
                &lifecycle::registry_name("A", name),
                &lifecycle::registry_value(OWNER, "httproute/apps/web"),
            ),
        )
        .await?;
    Ok(rec)
}

async fn snapshot_foreign(client: &Client, zone_id: &str, resolver: &hickory_resolver::TokioResolver) -> (Vec<DnsRecord>, Vec<Option<Vec<String>>>) {
    let mut api = Vec::new();
    let mut dns = Vec::new();
    for (name, t) in [
        (fq("www"), RecordType::A),
        (ZONE.to_string(), RecordType::TXT),
        (fq("docs"), RecordType::CNAME),
        (fq("other"), RecordType::A),
        (lifecycle::registry_name("A", &fq("other")), RecordType::TXT),
    ] {
        let f = RecordFilter {
            name: Some(name.clone()),
            rtype: Some(t.to_string()),
            content: None,
        };
        api.extend(client.list_records(zone_id, &f).await.unwrap());
        dns.push(lifecycle::answers(resolver, &name, t).await.unwrap());
    }
    (api, dns)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_lifecycle_resolves_and_leaves_foreign_records_alone() {
    let lab = lab().await;
    let client = Client::new(&lab.fake.base_url(), lab.token.clone()).unwrap();
    let zone_id = client.zone_id(ZONE).await.unwrap();
    assert_eq!(zone_id, lab.fake.zone_id());
    let resolver = lifecycle::authoritative_resolver(lab.fake.dns_addr()).unwrap();
    let before = snapshot_foreign(&client, &zone_id, &resolver).await;
    assert_eq!(before.0.len(), 5, "seed records listed by the api");
    assert!(before.1.iter().all(Option::is_some), "seed records served: {:?}", before.1);

    // DNS-only record with an explicit TTL (a LAN target: must not be proxied).
    let app = fq("app");
    let t0 = Instant::now();
    publish(&client, &zone_id, &app, "10.198.50.10", false, 120).await.unwrap();
    let exp = Expectation {
        name: app.clone(),
        rtype: "A".into(),
        content: "10.198.50.10".into(),
        proxied: false,
        ttl: 120,
        owner: OWNER.into(),
    };
    let (obs, _) = lifecycle::wait_observed(&client, &zone_id, &exp, BOUND).await.unwrap();
    assert!(!obs.record.proxiable, "a private target is not proxiable");
    lifecycle::wait_resolves(&resolver, &app, RecordType::A, &["10.198.50.10".into()], BOUND).await.unwrap();
    let visible = t0.elapsed();
    let txt = lifecycle::answers(&resolver, &lifecycle::registry_name("A", &app), RecordType::TXT).await.unwrap();
    assert_eq!(txt, Some(vec![lifecycle::registry_value(OWNER, "httproute/apps/web").trim_matches('"').to_string()]));

    // Expectation mismatches are reported, not silently accepted.
    let wrong = Expectation { proxied: true, ttl: 1, ..exp.clone() };
    match lifecycle::observe(&client, &zone_id, &wrong).await {
        Err(Error::Mismatch { problems, .. }) => assert!(problems.iter().any(|p| p.contains("proxied")), "{problems:?}"),
        other => panic!("expected a mismatch, got {other:?}"),
    }

    // Proxied record: TTL is forced to automatic and DNS answers with the edge.
    let public = fq("public");
    publish(&client, &zone_id, &public, "1.2.3.4", true, 300).await.unwrap();
    let pexp = Expectation {
        name: public.clone(),
        rtype: "A".into(),
        content: "1.2.3.4".into(),
        proxied: true,
        ttl: 1,
        owner: OWNER.into(),
    };
    let (pobs, _) = lifecycle::wait_observed(&client, &zone_id, &pexp, BOUND).await.unwrap();
    assert!(pobs.record.proxiable);
    lifecycle::wait_resolves(&resolver, &public, RecordType::A, &["203.0.113.10".into(), "203.0.113.11".into()], BOUND)
        .await
        .unwrap();

    // An owned change goes through the guard (PATCH) and is served.
    let guard = OwnershipGuard::new(OWNER);
    let patched = guard
        .update(&client, &zone_id, &obs.record.id, &RecordInput { content: Some("10.198.50.11".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(patched.ttl, 120);
    lifecycle::wait_resolves(&resolver, &app, RecordType::A, &["10.198.50.11".into()], BOUND).await.unwrap();

    // The guard refuses records without our ownership record, or with another owner's.
    for host in ["www", "other"] {
        match guard.delete(&client, &zone_id, "A", &fq(host)).await {
            Err(Error::NotOwned { reason, .. }) => eprintln!("lab_dns: guard refused {host}: {reason}"),
            other => panic!("guard must refuse {host}, got {other:?}"),
        }
    }
    let www = client.list_records(&zone_id, &RecordFilter { name: Some(fq("www")), ..Default::default() }).await.unwrap();
    match guard.update(&client, &zone_id, &www[0].id, &RecordInput { content: Some("10.198.0.66".into()), ..Default::default() }).await {
        Err(Error::NotOwned { .. }) => {}
        other => panic!("guard must refuse to update www, got {other:?}"),
    }

    // Delete: gone from the API and from DNS.
    let t1 = Instant::now();
    assert_eq!(guard.delete(&client, &zone_id, "A", &app).await.unwrap(), 2);
    lifecycle::wait_gone(&resolver, &app, RecordType::A, BOUND).await.unwrap();
    lifecycle::wait_gone(&resolver, &lifecycle::registry_name("A", &app), RecordType::TXT, BOUND).await.unwrap();
    let gone = t1.elapsed();
    assert!(client.list_records(&zone_id, &RecordFilter { name: Some(app.clone()), ..Default::default() }).await.unwrap().is_empty());
    guard.delete(&client, &zone_id, "A", &public).await.unwrap();
    lifecycle::wait_gone(&resolver, &public, RecordType::A, BOUND).await.unwrap();

    let after = snapshot_foreign(&client, &zone_id, &resolver).await;
    assert_eq!(before, after, "foreign records changed");
    eprintln!("lab_dns: time-to-visible {visible:?} (api create to authoritative answer), time-to-gone {gone:?}");
    eprintln!("lab_dns: zone after the run:\n{}", lab.fake.zone_contents().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_rejected_without_side_effects() {
    let lab = lab().await;
    let wrong = Client::new(&lab.fake.base_url(), Secret::new("not-the-token".into())).unwrap();
    let e = wrong.zone_id(ZONE).await.unwrap_err();
    assert_eq!((e.http_status(), e.api_code()), (Some(403), Some(9109)), "{e}");
    let e = wrong
        .create_record(lab.fake.zone_id(), &RecordInput::new("A", &fq("x"), "10.198.1.1"))
        .await
        .unwrap_err();
    assert_eq!(e.api_code(), Some(9109), "{e}");
    let empty = Client::new(&lab.fake.base_url(), Secret::new(" ".into())).unwrap();
    let e = empty.zone_id(ZONE).await.unwrap_err();
    assert_eq!((e.http_status(), e.api_code()), (Some(400), Some(6003)), "{e}");
    // The token never shows up in errors.
    assert!(!format!("{e} {e:?}").contains(lab.token.expose()));
    let good = Client::new(&lab.fake.base_url(), lab.token.clone()).unwrap();
    let all = good.list_records(lab.fake.zone_id(), &RecordFilter::default()).await.unwrap();
    assert_eq!(all.len(), foreign_seed().len(), "a rejected request must not write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxied_private_target_is_rejected_and_nothing_is_served() {
    let lab = lab().await;
    let client = Client::new(&lab.fake.base_url(), lab.token.clone()).unwrap();
    let zid = lab.fake.zone_id().to_string();
    let resolver = lifecycle::authoritative_resolver(lab.fake.dns_addr()).unwrap();
    let name = fq("lan");
    let e = client
        .create_record(&zid, &RecordInput::new("A", &name, "192.168.3.80").proxied(true))
        .await
        .unwrap_err();
    assert_eq!((e.http_status(), e.api_code()), (Some(400), Some(9003)), "{e}");
    assert!(e.to_string().contains("192.168.3.80"), "{e}");
    let e = client
        .create_record(&zid, &RecordInput::new("TXT", &name, "\"x\"").proxied(true))
        .await
        .unwrap_err();
    assert_eq!(e.api_code(), Some(9004), "{e}");
    let e = client
        .create_record(&zid, &RecordInput::new("A", &name, "10.198.1.1").ttl(30))
        .await
        .unwrap_err();
    assert_eq!(e.api_code(), Some(9021), "{e}");
    assert_eq!(lifecycle::answers(&resolver, &name, RecordType::A).await.unwrap(), None);
    assert!(client.list_records(&zid, &RecordFilter { name: Some(name.clone()), ..Default::default() }).await.unwrap().is_empty());
    // Switching an existing DNS-only private record to proxied fails the same way and keeps it.
    let r = client.create_record(&zid, &RecordInput::new("A", &name, "192.168.3.80")).await.unwrap();
    let e = client
        .patch_record(&zid, &r.id, &RecordInput { proxied: Some(true), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(e.api_code(), Some(9003), "{e}");
    let still = client.get_record(&zid, &r.id).await.unwrap();
    assert!(!still.proxied);
    assert_eq!(lifecycle::answers(&resolver, &name, RecordType::A).await.unwrap(), Some(vec!["192.168.3.80".into()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_paginates_and_filters_like_the_api() {
    let lab = lab().await;
    let client = Client::new(&lab.fake.base_url(), lab.token.clone()).unwrap();
    let zid = lab.fake.zone_id().to_string();
    for i in 0..5 {
        client
            .create_record(&zid, &RecordInput::new("A", &fq(&format!("n{i}")), &format!("10.198.9.{i}")))
            .await
            .unwrap();
    }
    let all = client.list_records(&zid, &RecordFilter::default()).await.unwrap();
    let paged = client.clone().with_per_page(2).list_records(&zid, &RecordFilter::default()).await.unwrap();
    assert_eq!(all.len(), 10);
    assert_eq!(paged, all);
    let by_content = client
        .list_records(&zid, &RecordFilter { content: Some("10.198.9.3".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(by_content.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), vec![fq("n3").as_str()]);
    let txt = client
        .list_records(&zid, &RecordFilter { rtype: Some("TXT".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(txt.len(), 2);
    let e = client.get_record(&zid, "0000").await.unwrap_err();
    assert_eq!((e.http_status(), e.api_code()), (Some(404), Some(81044)), "{e}");
    let e = client.list_records("ffff", &RecordFilter::default()).await.unwrap_err();
    assert_eq!(e.http_status(), Some(404), "{e}");
}
