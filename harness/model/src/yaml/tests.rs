use serde::Deserialize;

use super::*;

fn one(text: &str) -> Node {
    let mut docs = parse_str("t.yaml", text).expect("parses");
    assert_eq!(docs.len(), 1, "{docs:?}");
    docs.remove(0).root
}

#[test]
fn positions_are_one_based() {
    let root = one("a:\n  b: [1, 2]\n  c: x\n");
    let b = root.lookup("a.b").expect("a.b");
    assert_eq!(b.pos, Pos { line: 2, col: 6 });
    let c = root.lookup("a.c").expect("a.c");
    assert_eq!(c.pos, Pos { line: 3, col: 6 });
    assert_eq!(root.lookup("a.b[1]").and_then(Node::as_i64), Some(2));
}

#[test]
fn core_schema_resolution() {
    let root = one("a: 53\nb: \"53\"\nc: true\nd: ~\ne: 1.5\nf: 1.18.6\ng: 0x10\nh: !!str 7\n");
    assert_eq!(root.get("a").map(|n| &n.value), Some(&Value::Int(53)));
    assert_eq!(root.get("b").map(|n| &n.value), Some(&Value::Str("53".into())));
    assert_eq!(root.get("c").map(|n| &n.value), Some(&Value::Bool(true)));
    assert_eq!(root.get("d").map(|n| &n.value), Some(&Value::Null));
    assert_eq!(root.get("e").map(|n| &n.value), Some(&Value::Float(1.5)));
    assert_eq!(root.get("f").map(|n| &n.value), Some(&Value::Str("1.18.6".into())));
    assert_eq!(root.get("g").map(|n| &n.value), Some(&Value::Int(16)));
    assert_eq!(root.get("h").map(|n| &n.value), Some(&Value::Str("7".into())));
}

#[test]
fn duplicate_keys_are_rejected_with_both_lines() {
    let err = parse_str("rke2.yaml", "disable:\n  - a\ncni: none\ndisable:\n  - b\n").unwrap_err();
    match err {
        Error::DuplicateKey {
            line,
            col,
            key,
            first_line,
            ..
        } => {
            assert_eq!((line, col, key.as_str(), first_line), (4, 1, "disable", 1));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn multi_document_streams() {
    let docs = parse_str("m.yaml", "a: 1\n---\nb: 2\n---\n").expect("parses");
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[1].root.pos.line, 3);
    assert!(docs[2].root.is_null());
}

#[test]
fn syntax_errors_carry_position() {
    let err = parse_str("bad.yaml", "a: [1, 2\nb: c\n").unwrap_err();
    assert!(err.position().is_some(), "{err}");
    assert!(err.to_string().starts_with("bad.yaml:"), "{err}");
}

#[test]
fn anchors_and_aliases_expand() {
    let root = one("x: &a {k: v}\ny: *a\n");
    assert_eq!(root.lookup("y.k").and_then(Node::as_str), Some("v"));
    assert_eq!(root.get("y").map(|n| n.pos.line), Some(2));
}

#[test]
fn alias_bomb_is_bounded() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    assert!(matches!(parse_str("bomb.yaml", &text), Err(Error::TooLarge { .. })));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Peer {
    address: String,
    asn: u32,
    #[serde(default)]
    hold_time_seconds: Option<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Bgp {
    peers: Vec<Peer>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
enum Step {
    Apply { file: String },
    Sleep(u32),
    Noop,
}

#[test]
fn typed_decode_ok() {
    let root = one("peers:\n- address: 192.168.3.1\n  asn: 65000\n  holdTimeSeconds: 90\n");
    let bgp: Bgp = from_node(&root).expect("decodes");
    assert_eq!(bgp.peers[0].address, "192.168.3.1");
    assert_eq!(bgp.peers[0].asn, 65000);
    assert_eq!(bgp.peers[0].hold_time_seconds, Some(90));
}

#[test]
fn unknown_field_points_at_key() {
    let root = one("peers:\n- address: 192.168.3.1\n  asn: 65000\n  holdtime: 90\n");
    let err = from_node::<Bgp>(&root).unwrap_err();
    assert_eq!(err.pos, Some(Pos { line: 4, col: 3 }), "{err:?}");
    assert_eq!(err.path, "peers[0].holdtime");
    assert!(err.message.contains("unknown field `holdtime`"), "{err}");
    assert!(err.message.contains("holdTimeSeconds"), "{err}");
}

#[test]
fn wrong_type_points_at_value() {
    let root = one("peers:\n- address: 192.168.3.1\n  asn: \"65000\"\n");
    let err = from_node::<Bgp>(&root).unwrap_err();
    assert_eq!(err.pos, Some(Pos { line: 3, col: 8 }), "{err:?}");
    assert!(err.message.contains("expected u32"), "{err}");
    let root = one("peers:\n- address: 10\n  asn: 1\n");
    let err = from_node::<Bgp>(&root).unwrap_err();
    assert_eq!(err.path, "peers[0].address");
}

#[test]
fn out_of_range_integer_is_an_error() {
    let root = one("peers:\n- {address: a, asn: -1}\n");
    let err = from_node::<Bgp>(&root).unwrap_err();
    assert_eq!(err.path, "peers[0].asn");
}

#[test]
fn missing_field_points_at_mapping() {
    let root = one("peers:\n- address: a\n");
    let err = from_node::<Bgp>(&root).unwrap_err();
    assert_eq!(err.pos, Some(Pos { line: 2, col: 3 }), "{err:?}");
    assert!(err.message.contains("missing field `asn`"), "{err}");
}

#[test]
fn enums_list_valid_kinds() {
    let ok: Vec<Step> = from_node(&one("- apply: {file: a.yaml}\n- sleep: 3\n- noop\n")).expect("ok");
    match ok.as_slice() {
        [Step::Apply { file }, Step::Sleep(3), Step::Noop] => assert_eq!(file, "a.yaml"),
        other => panic!("unexpected steps {other:?}"),
    }
    let err = from_node::<Vec<Step>>(&one("- apply: {file: a}\n- aply: {file: b}\n")).unwrap_err();
    assert_eq!(err.pos, Some(Pos { line: 2, col: 3 }), "{err:?}");
    assert!(err.message.contains("unknown variant `aply`"), "{err}");
    assert!(err.message.contains("`apply`"), "{err}");
    let err = from_node::<Vec<Step>>(&one("- apply: {file: a, bogus: 1}\n")).unwrap_err();
    assert_eq!(err.path, "[0].apply.bogus");
    let err = from_node::<Vec<Step>>(&one("- {apply: {file: a}, sleep: 1}\n")).unwrap_err();
    assert!(err.message.contains("exactly one"), "{err}");
}

#[test]
fn duplicates_can_be_kept_and_reported() {
    let (docs, dups) =
        parse_str_keep_duplicates("rke2.yaml", "disable:\n  - a\ncni: none\ndisable:\n  - b\n").expect("parses");
    assert_eq!(dups.len(), 1);
    assert_eq!(dups[0].position(), Some((4, 1)));
    let entries = docs[0].root.as_map().expect("map");
    assert_eq!(entries.len(), 3);
}


#[test]
fn nesting_is_bounded_in_block_and_flow_style() {
    for text in ["- ".repeat(20_000) + "x", "[".repeat(20_000), "a:\n".to_owned() + &(1..400).map(|i| format!("{}k:\n", "  ".repeat(i))).collect::<String>()] {
        match parse_str("deep.yaml", &text) {
            Err(Error::TooDeep { line, col, .. }) => assert!(line >= 1 && col >= 1),
            // saphyr's own flow-depth limit may answer first.
            Err(Error::Syntax { .. }) if text.starts_with('[') => {}
            other => panic!("{:?}", other.map(|d| d.len())),
        }
    }
    let ok = "- ".repeat(200) + "x";
    assert!(parse_str("ok.yaml", &ok).is_ok());
}

#[test]
fn the_node_bound_is_per_document() {
    // 40 documents of 60,000 nodes each: 2.4 M in the stream, none too big.
    let doc = format!("[{}]\n", vec!["1"; 60_000].join(","));
    let text = vec![doc; 40].join("---\n");
    assert_eq!(parse_str("many.yaml", &text).map(|d| d.len()).unwrap_or_else(|e| panic!("{e}")), 40);
}

#[test]
fn files_must_be_regular_bounded_utf8() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let refused = |p: &std::path::Path, want: &str| match read_text(p) {
        Err(e @ Error::Unreadable { .. }) => {
            let f = crate::diag::Finding::from_yaml_error(&e);
            assert_eq!(f.rule, "YAML-003");
            assert!(e.to_string().contains(want), "{e}");
        }
        other => panic!("{other:?}"),
    };
    refused(dir.path(), "not a regular file");
    refused(std::path::Path::new("/dev/zero"), "not a regular file");
    let utf16 = dir.path().join("utf16.yaml");
    std::fs::write(&utf16, [0xff, 0xfe, b'a', 0, b':', 0]).unwrap_or_else(|e| panic!("{e}"));
    refused(&utf16, "UTF-16");
    let latin1 = dir.path().join("latin1.yaml");
    std::fs::write(&latin1, b"name: caf\xe9\n").unwrap_or_else(|e| panic!("{e}"));
    refused(&latin1, "not UTF-8; save it as UTF-8 (invalid byte at offset 9)");
}
