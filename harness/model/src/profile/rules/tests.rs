use std::collections::BTreeMap;

use super::bgp::asn_problem;
use super::catalog::hint_of;
use super::dns::is_private;
use super::gateway::{certificate_covers, listener_accepts};
use super::secrets::is_secret_key;
use super::selector::{selector_matches, selectors_overlap};
use super::versions::{exact_version, gateway_bundle_for};
use super::*;
use crate::profile::load::{load_default, load_str};
use crate::profile::model::{LabelRequirement, LabelSelector, SelectorOp};

fn sel(labels: &[(&str, &str)], exprs: &[(&str, SelectorOp, &[&str])]) -> LabelSelector {
    LabelSelector {
        match_labels: labels
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        match_expressions: exprs
            .iter()
            .map(|(k, op, vs)| LabelRequirement {
                key: (*k).into(),
                operator: *op,
                values: vs.iter().map(|v| (*v).into()).collect(),
            })
            .collect(),
    }
}

#[test]
fn catalog_ids_are_unique_sorted_and_cover_every_emitted_rule() {
    let ids: Vec<&str> = rules().iter().map(|r| r.id).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(ids, sorted);
    // Every `"PROF-NNN"` literal in the rule modules is a catalog id.
    let sources = [
        include_str!("addr.rs"),
        include_str!("bgp.rs"),
        include_str!("budgets.rs"),
        include_str!("cluster.rs"),
        include_str!("dns.rs"),
        include_str!("gateway.rs"),
        include_str!("install.rs"),
        include_str!("pools.rs"),
        include_str!("secrets.rs"),
        include_str!("unique.rs"),
        include_str!("versions.rs"),
    ];
    let mut emitted = 0;
    for src in sources {
        for (i, _) in src.match_indices("\"PROF-") {
            let id = &src[i + 1..i + 9];
            assert!(ids.contains(&id), "{id} is emitted but not in the catalog");
            assert!(!hint_of(id).is_empty());
            emitted += 1;
        }
    }
    assert!(emitted > 30);
}

#[test]
fn default_profile_has_no_findings() {
    let loaded = load_default().expect("default loads");
    let findings = validate(&loaded);
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn selector_overlap_is_semantic() {
    use SelectorOp::*;
    let main = sel(&[], &[("priority", NotIn, &["critical"])]);
    let critical = sel(&[("priority", "critical")], &[]);
    assert!(!selectors_overlap(Some(&main), Some(&critical)));
    // No selector, or an empty one, matches everything.
    assert!(selectors_overlap(None, Some(&critical)));
    assert!(selectors_overlap(
        Some(&LabelSelector::default()),
        Some(&critical)
    ));
    // Different keys can always be satisfied together.
    let team = sel(&[("team", "a")], &[]);
    assert!(selectors_overlap(Some(&team), Some(&critical)));
    // In vs In with disjoint values: no overlap; shared value: overlap.
    let a = sel(&[], &[("tier", In, &["x", "y"])]);
    let b = sel(&[], &[("tier", In, &["z"])]);
    let c = sel(&[], &[("tier", In, &["y", "z"])]);
    assert!(!selectors_overlap(Some(&a), Some(&b)));
    assert!(selectors_overlap(Some(&a), Some(&c)));
    // DoesNotExist vs Exists: disjoint; DoesNotExist vs NotIn: both match "absent".
    let absent = sel(&[], &[("tier", DoesNotExist, &[])]);
    let present = sel(&[], &[("tier", Exists, &[])]);
    let not_x = sel(&[], &[("tier", NotIn, &["x"])]);
    assert!(!selectors_overlap(Some(&absent), Some(&present)));
    assert!(selectors_overlap(Some(&absent), Some(&not_x)));
    // NotIn covering every value In allows: disjoint.
    let not_xy = sel(&[], &[("tier", NotIn, &["x", "y"])]);
    assert!(!selectors_overlap(Some(&a), Some(&not_xy)));
}

#[test]
fn selector_matching_follows_kubernetes_semantics() {
    use SelectorOp::*;
    let main = sel(&[], &[("priority", NotIn, &["critical"])]);
    let none: BTreeMap<String, String> = BTreeMap::new();
    let crit: BTreeMap<String, String> = [("priority".to_owned(), "critical".to_owned())].into();
    assert!(selector_matches(Some(&main), &none));
    assert!(!selector_matches(Some(&main), &crit));
    assert!(selector_matches(None, &crit));
}

#[test]
fn asn_rules() {
    for bad in [
        0,
        23456,
        64496,
        64511,
        65535,
        65536,
        65551,
        70000,
        4_294_967_295,
        4_294_967_296,
    ] {
        assert!(asn_problem(bad).is_some(), "{bad}");
    }
    for good in [
        1,
        13335,
        64512,
        65000,
        65001,
        65534,
        131_072,
        4_200_000_000,
        4_294_967_294,
    ] {
        assert!(asn_problem(good).is_none(), "{good}");
    }
}

#[test]
fn versions_and_bundles() {
    assert_eq!(exact_version("1.18.6"), Some((1, 18, 6)));
    assert_eq!(exact_version("v1.33.5+rke2r1"), Some((1, 33, 5)));
    assert_eq!(exact_version("v1.4.0-rc.1"), Some((1, 4, 0)));
    for bad in [
        ">=1.14.0", "1.18.x", "1.18", "~1.18.6", "latest", "", "1.18.6.1", "v",
    ] {
        assert_eq!(exact_version(bad), None, "{bad}");
    }
    assert_eq!(gateway_bundle_for(18), Some((1, 3, Some(0))));
    assert_eq!(gateway_bundle_for(19), Some((1, 4, None)));
    assert_eq!(gateway_bundle_for(16), None);
}

#[test]
fn private_addresses() {
    for ip in [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.30.200",
        "100.64.0.1",
        "127.0.0.1",
        "169.254.1.1",
        "fd00::1",
        "fe80::1",
        "::1",
    ] {
        assert!(is_private(ip.parse().expect("ip")), "{ip}");
    }
    for ip in ["1.1.1.1", "100.128.0.1", "172.32.0.1", "2606:4700::1"] {
        assert!(!is_private(ip.parse().expect("ip")), "{ip}");
    }
}

#[test]
fn secret_keys() {
    for k in [
        "apiToken",
        "token",
        "password",
        "adminPassword",
        "credentials",
        "api_token",
        "client-secret",
        "apiKey",
    ] {
        assert!(is_secret_key(k), "{k}");
    }
    for k in [
        "tokenId",
        "secretName",
        "key",
        "tokenFile",
        "passwordRef",
        "txtOwnerId",
    ] {
        assert!(!is_secret_key(k), "{k}");
    }
}

#[test]
fn inline_secret_is_reported_without_its_value() {
    let text = crate::profile::DEFAULT_YAML.replace(
        "apiToken: {env: CF_API_TOKEN}",
        "apiToken: cf-inline-9f8e7d6c5b4a",
    );
    let err = load_str("s.yaml", &text).expect_err("inline secret rejected");
    let findings = err.findings();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].rule, "PROF-015");
    let shown = format!("{} {err}", findings[0]);
    assert!(!shown.contains("cf-inline-9f8e7d6c5b4a"), "{shown}");
    assert_eq!(
        crate::secret::redact("x cf-inline-9f8e7d6c5b4a y"),
        "x <redacted> y"
    );
}

#[test]
fn all_problems_are_collected_at_once() {
    let text = crate::profile::DEFAULT_YAML
        .replace(
            "podCIDR: 10.244.0.0/16\n  serviceCIDR",
            "podCIDR: 10.244.0.0/33\n  serviceCIDR",
        )
        .replace("localASN: 65001", "localASN: 23456")
        .replace("wireguard: true", "wireguard: false");
    let loaded = load_str("m.yaml", &text).expect("decodes");
    let rules: Vec<String> = validate(&loaded).into_iter().map(|f| f.rule).collect();
    for want in ["PROF-001", "PROF-007", "PROF-016"] {
        assert!(
            rules.iter().any(|r| r == want),
            "{want} missing from {rules:?}"
        );
    }
}

#[test]
fn listener_and_certificate_matching_differ_on_depth() {
    assert!(listener_accepts(Some("*.example.com"), "a.example.com"));
    assert!(listener_accepts(Some("*.example.com"), "a.b.example.com"));
    assert!(!listener_accepts(Some("*.example.com"), "example.com"));
    assert!(listener_accepts(None, "anything.org"));
    assert!(listener_accepts(
        Some("Auth.Example.com."),
        "auth.example.com"
    ));
    assert!(certificate_covers("*.example.com", "a.example.com"));
    assert!(!certificate_covers("*.example.com", "a.b.example.com"));
    assert!(!certificate_covers("*.example.com", "example.com"));
    assert!(certificate_covers("example.com", "Example.COM."));
}

#[test]
fn kind_image_must_match_the_kubernetes_minor() {
    // Rules run on the typed profile, so swapping the provider in place is
    // enough; positions fall back to the nearest existing key.
    let kind = |image: &str| {
        let mut loaded = load_default().expect("default loads");
        loaded.profile.provider = crate::profile::Provider::Kind(crate::profile::KindProvider {
            node_image: image.to_owned(),
            config: None,
        });
        validate(&loaded)
            .into_iter()
            .map(|f| f.rule)
            .collect::<Vec<_>>()
    };
    assert!(kind("kindest/node:v1.33.4").is_empty());
    assert_eq!(kind("kindest/node:v1.32.2"), vec!["PROF-020"]);
    assert_eq!(kind("kindest/node:latest"), vec!["PROF-020"]);
    assert_eq!(kind("kindest/node"), vec!["PROF-020"]);
}
