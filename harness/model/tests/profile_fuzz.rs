//! Property tests: loading and validating a profile never panics, whatever
//! the input, and every finding it produces is located and catalogued.

use infraflux_model::diag::Finding;
use infraflux_model::profile::{
    self, DEFAULT_YAML, DnsTarget, IpBlock, LabelRequirement, LbMode, SelectorOp,
};
use proptest::prelude::*;

fn assert_well_formed(findings: &[Finding]) {
    for f in findings {
        let known = f.rule.starts_with("YAML-") || profile::rules().iter().any(|r| r.id == f.rule);
        assert!(known, "uncatalogued rule {}", f.rule);
        assert!(f.location.is_some(), "unlocated finding {f}");
        assert!(!f.message.is_empty());
    }
}

fn check(text: &str) {
    let checked = profile::check_str("fuzz.yaml", text);
    assert_well_formed(&checked.findings);
    // Load failures are bad input; decoded profiles never are.
    assert_eq!(
        checked.loaded.is_none(),
        checked.status() == infraflux_model::exit::Status::BadInput
    );
}

/// Values that stress parsing and the rules: bad and edge addresses,
/// numbers at type limits, YAML specials.
fn nasty() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "",
        "~",
        "null",
        "true",
        "0",
        "-1",
        "65535",
        "4294967295",
        "4294967296",
        "9223372036854775807",
        "99999999999999999999",
        "1e309",
        ".nan",
        "0x10",
        "[]",
        "{}",
        "[1, 2]",
        "{a: b}",
        "\"x\"",
        "10.0.0.0/8",
        "10.244.0.0/33",
        "0.0.0.0/0",
        "::/0",
        "192.168.3.1",
        "192.168.30.255",
        "fe80::1",
        "256.1.1.1",
        "1.2.3",
        "*",
        "*.",
        ".",
        "-",
        ": x",
        "&a x",
        "*a",
        "!!binary x",
        "'",
        "\"",
        "{",
        "[",
        "\t",
        "é",
        "v1.18.6",
        ">=1.14.0",
        "1.17.0",
        "v1.2.1",
    ])
    .prop_map(str::to_owned)
}

/// Replaces the value part of line `idx` (after the first `: `) with `v`.
fn replace_value(text: &str, idx: usize, v: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return v.to_owned();
    }
    let i = idx % lines.len();
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    if let Some(p) = lines[i].find(": ") {
        out[i] = format!("{}: {v}", &lines[i][..p]);
    } else {
        out[i] = format!("{}{v}", lines[i]);
    }
    out.join("\n")
}

#[derive(Debug, Clone)]
enum Mutation {
    Value(usize, String),
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    Truncate(usize),
    Indent(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), nasty()).prop_map(|(i, v)| Mutation::Value(i, v)),
        1 => any::<usize>().prop_map(Mutation::DeleteLine),
        1 => any::<usize>().prop_map(Mutation::DuplicateLine),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), 0usize..6).prop_map(|(i, n)| Mutation::Indent(i, n)),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let n = lines.len();
    if n == 0 {
        return text.to_owned();
    }
    match m {
        Mutation::Value(i, v) => return replace_value(text, *i, v),
        Mutation::DeleteLine(i) => {
            lines.remove(i % n);
        }
        Mutation::DuplicateLine(i) => {
            let l = lines[i % n].clone();
            lines.insert(i % n, l);
        }
        Mutation::SwapLines(a, b) => lines.swap(a % n, b % n),
        Mutation::Truncate(at) => {
            let mut cut = at % (text.len() + 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            return text[..cut].to_owned();
        }
        Mutation::Indent(i, k) => {
            let l = &mut lines[i % n];
            *l = format!("{}{}", " ".repeat(*k), l.trim_start());
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn yamlish_text_never_panics(text in "[a-zA-Z0-9:{}\\[\\],\\-\\n #&*!|>'\"./]{0,200}") {
        check(&text);
    }

    #[test]
    fn mutated_default_never_panics(ms in prop::collection::vec(mutation(), 1..6)) {
        let mut text = DEFAULT_YAML.to_owned();
        for m in &ms {
            text = apply(&text, m);
        }
        check(&text);
    }
}

#[test]
fn json_rendering_of_the_default_is_the_same_clean_profile() {
    let loaded = profile::load_default().unwrap_or_else(|e| panic!("{e}"));
    let text = serde_json::to_string_pretty(&loaded.profile).unwrap_or_else(|e| panic!("{e}"));
    let again = profile::load_str("default.json", &text)
        .unwrap_or_else(|e| panic!("{e}: {:?}", e.findings()));
    assert_eq!(again.profile, loaded.profile);
    assert!(profile::validate(&again).is_empty());
}

/// Typed mutations keep the profile decodable, so they reach deep into
/// the semantic rules rather than stopping at the decoder.
fn addr() -> impl Strategy<Value = String> {
    prop_oneof![
        (any::<[u8; 4]>(), 0u8..=33)
            .prop_map(|(o, p)| format!("{}.{}.{}.{}/{p}", o[0], o[1], o[2], o[3])),
        any::<[u8; 4]>().prop_map(|o| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])),
        (0u8..4, 0u8..=255)
            .prop_map(|(a, b)| format!("192.168.{}.{b}", [3, 30, 31, 4][usize::from(a)])),
        nasty(),
        Just("fd00::/8".to_owned()),
        Just("2001:db8::1".to_owned()),
    ]
}

fn selector_op() -> impl Strategy<Value = SelectorOp> {
    prop::sample::select(vec![
        SelectorOp::In,
        SelectorOp::NotIn,
        SelectorOp::Exists,
        SelectorOp::DoesNotExist,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn typed_mutations_never_panic(
        pod in addr(), svc in addr(), node in addr(), vip in addr(), gw in addr(),
        native in prop::option::of(addr()), api in addr(), peer in addr(), node_ip in addr(),
        blocks in prop::collection::vec((prop::option::of(addr()), prop::option::of(addr()), prop::option::of(addr())), 0..4),
        local_asn in prop_oneof![any::<u64>(), 0u64..70000], peer_asn in 0u64..70000,
        hold in 0u32..200, keep in 0u32..200,
        ops in prop::collection::vec((selector_op(), prop::collection::vec("[a-c]{0,2}", 0..3)), 0..3),
        flags in any::<[bool; 10]>(), target in prop::option::of(addr()),
        samples in 0u32..3, threshold in prop_oneof![Just(f64::NAN), -1.0f64..200.0],
        lb_mode in prop::sample::select(vec![LbMode::Snat, LbMode::Dsr, LbMode::Hybrid]),
        cilium in prop::sample::select(vec!["1.16.0", "1.17.3", "1.18.6", "1.19.1", "1.20.1", "2.0.0", "x"]),
    ) {
        let mut p = profile::load_default().map_err(|e| TestCaseError::fail(e.to_string()))?.profile;
        p.network.pod_cidr = pod;
        p.network.service_cidr = svc;
        p.network.node_cidr = node;
        p.network.node_gateway = gw;
        p.network.native_routing_cidr = native;
        p.network.api_server.vip = api;
        p.load_balancer.vip_cidr = vip;
        p.bgp.peers[0].address = peer;
        p.bgp.peers[0].asn = peer_asn;
        p.bgp.local_asn = local_asn;
        p.bgp.timers.hold_time_seconds = hold;
        p.bgp.timers.keep_alive_time_seconds = keep;
        p.nodes[0].ip = node_ip;
        p.load_balancer.pools[0].blocks = blocks
            .into_iter()
            .map(|(cidr, start, stop)| IpBlock { cidr, start, stop })
            .collect();
        if let Some(sel) = p.load_balancer.pools[1].service_selector.as_mut() {
            sel.match_expressions = ops
                .into_iter()
                .map(|(operator, values)| LabelRequirement { key: "priority".into(), operator, values })
                .collect();
        }
        p.features.kube_proxy_replacement = flags[0];
        p.features.wireguard = flags[1];
        p.features.node_encryption = flags[2];
        p.features.bgp = flags[3];
        p.features.gateway_api = flags[4];
        p.features.l2_announcements = flags[5];
        p.features.hubble.relay = flags[6];
        p.dns.records[0].proxied = Some(flags[7]);
        p.features.node_local_dns = flags[8];
        p.features.local_redirect_policy = flags[9];
        p.features.load_balancer_mode = lb_mode;
        if let Some(t) = target {
            p.dns.records[1].target = DnsTarget::Address(t);
        }
        p.perf.samples = samples;
        p.perf.regression_threshold_percent = threshold;
        p.versions.cilium = cilium.to_owned();
        // JSON is YAML, so the serialized model goes through the real loader.
        let text = serde_json::to_string_pretty(&p).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check(&text);
    }
}
