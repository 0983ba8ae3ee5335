//! Gateway API objects judged against the CRD bundle they will meet.
//!
//! The bundle is the one [`crate::check::versions::gateway_api`] names
//! (what the inputs install, `--gateway-api-version`, the profile, else the
//! bundle the Cilium line requires). Its CRDs are read from the Go module
//! cache (`sigs.k8s.io/gateway-api@<version>/config/crd/{standard,experimental}`,
//! offline; the newest cached release of the same minor line when the exact
//! one is not there), so which kinds, versions and fields each channel
//! serves is upstream's own answer for that release, not a table kept here.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::charts;
use crate::diag::Finding;
use crate::diag::Severity::{Error, Warning};
use crate::yaml::{Node, Pos, Value};

use super::Impact::{Breaks, Deprecated, Silent};
use super::{INPUT_006, Rule, rule};
use crate::check::model::{Ctx, Obj};
use crate::check::versions::{self, Channel, Judged};

pub(crate) const GW_013: Rule = rule(
    "GW-013", "gateway", Error, Breaks,
    "Gateway API kind at an API version the installed bundle (release and channel) does not serve: the apply fails with `no matches for kind`",
    "use a version the bundle serves (the message lists them), or install the release/channel that serves it", &[31],
);
pub(crate) const GW_014: Rule = rule(
    "GW-014", "gateway", Warning, Deprecated,
    "Gateway API version that the installed bundle still serves but marks deprecated (alpha route and policy versions once v1 exists); a later release stops serving it",
    "move to the version the message names (same kind, v1)", &[33],
);
pub(crate) const GW_015: Rule = rule(
    "GW-015", "gateway", Warning, Silent,
    "field that only the experimental channel of the installed release defines, on a standard-channel install: the API server rejects it (strict field validation) or drops it silently",
    "install the experimental channel of that release, or drop the field until it graduates to standard", &[33],
);

pub(crate) const RULES: &[Rule] = &[GW_013, GW_014, GW_015];

const GROUPS: &[&str] = &["gateway.networking.k8s.io", "gateway.networking.x-k8s.io"];

/// The fields one CRD version declares. `open`: no declared properties
/// (free-form map, `metadata`), anything goes below.
#[derive(Default)]
struct Schema {
    children: BTreeMap<String, Schema>,
    items: Option<Box<Schema>>,
    open: bool,
}

impl Schema {
    fn from_openapi(node: &Node) -> Schema {
        let mut s = Schema::default();
        match node.get("properties").and_then(Node::as_map) {
            Some(props) => {
                for (k, v) in props {
                    if let Some(name) = k.scalar_text() {
                        s.children.insert(name, Schema::from_openapi(v));
                    }
                }
            }
            None => s.open = node.get("items").is_none(),
        }
        if let Some(items) = node.get("items") {
            s.items = Some(Box::new(Schema::from_openapi(items)));
        }
        s
    }
}

struct Served {
    served: bool,
    deprecated: bool,
    schema: Schema,
}

/// `(group, kind)` → version → what the channel's CRD says.
type Kinds = HashMap<(String, String), BTreeMap<String, Served>>;

struct Bundle {
    /// The module release whose CRDs were read.
    release: String,
    standard: Kinds,
    experimental: Kinds,
}

fn read_channel(dir: &Path) -> Kinds {
    let mut kinds = Kinds::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
    files.sort();
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "yaml")) {
        let Ok(docs) = crate::yaml::parse_file(f) else { continue };
        for d in docs {
            let r = &d.root;
            if r.get("kind").and_then(Node::as_str) != Some("CustomResourceDefinition") {
                continue;
            }
            let (Some(group), Some(kind)) =
                (r.lookup("spec.group").and_then(Node::scalar_text), r.lookup("spec.names.kind").and_then(Node::scalar_text))
            else {
                continue;
            };
            let entry = kinds.entry((group, kind)).or_default();
            for v in r.lookup("spec.versions").and_then(Node::as_seq).unwrap_or_default() {
                let Some(name) = v.get("name").and_then(Node::scalar_text) else { continue };
                let flag = |k: &str| v.get(k).and_then(Node::scalar_text).as_deref() == Some("true");
                let schema = v.lookup("schema.openAPIV3Schema").map(Schema::from_openapi).unwrap_or_default();
                entry.insert(name, Served { served: flag("served"), deprecated: flag("deprecated"), schema });
            }
        }
    }
    kinds
}

/// Cached `sigs.k8s.io/gateway-api` releases, newest last.
fn cached_releases() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = charts::module_caches()
        .iter()
        .flat_map(|c| std::fs::read_dir(c.join("sigs.k8s.io")).into_iter().flatten().flatten())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let v = name.strip_prefix("gateway-api@")?.to_owned();
            Some((v, e.path()))
        })
        .collect();
    out.sort_by_key(|(v, _)| versions::parts(v, 0));
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

fn load(parts: (u64, u64, u64)) -> Option<Bundle> {
    let releases = cached_releases();
    let exact = releases.iter().find(|(v, _)| versions::parts(v, 0) == Some(parts) && !v.contains('-'));
    let same_line = || {
        releases
            .iter()
            .rev()
            .filter(|(v, _)| !v.contains('-'))
            .find(|(v, _)| versions::parts(v, 0).is_some_and(|p| (p.0, p.1) == (parts.0, parts.1)))
    };
    let (release, dir) = exact.or_else(same_line)?;
    let crd = dir.join("config").join("crd");
    let standard = read_channel(&crd.join("standard"));
    if standard.is_empty() {
        return None;
    }
    Some(Bundle { release: release.clone(), standard, experimental: read_channel(&crd.join("experimental")) })
}

/// Bundles read once per process: the experimental CRDs are large, and a
/// release's CRDs do not change while `check` runs.
fn loaded(parts: (u64, u64, u64)) -> Option<Arc<Bundle>> {
    type Cache = Mutex<HashMap<(u64, u64, u64), Option<Arc<Bundle>>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Cache::default);
    if let Some(hit) = cache.lock().ok().and_then(|c| c.get(&parts).cloned()) {
        return hit;
    }
    let value = load(parts).map(Arc::new);
    if let Ok(mut c) = cache.lock() {
        c.insert(parts, value.clone());
    }
    value
}

/// "Gateway API v1.6.3 (standard channel, from kustomization.yaml:4)".
fn describe(judged: &Judged, channel: Option<Channel>, bundle: &Bundle) -> String {
    let read = if versions::parts(&bundle.release, 0) == Some(judged.parts) {
        String::new()
    } else {
        format!("; CRDs of {} read", bundle.release)
    };
    let ch = channel.map_or("channel unknown, judged as experimental".to_owned(), |c| format!("{} channel", c.name()));
    format!("Gateway API {} ({ch}, {}{read})", judged.version, judged.from)
}

fn served_list(vs: Option<&BTreeMap<String, Served>>) -> String {
    let list: Vec<&str> = vs.map(|m| m.iter().filter(|(_, s)| s.served).map(|(v, _)| v.as_str()).collect()).unwrap_or_default();
    if list.is_empty() { "none".to_owned() } else { list.join(", ") }
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let objs: Vec<&Obj<'_>> = ctx.objects.iter().filter(|o| GROUPS.contains(&o.group.as_str())).collect();
    let Some(first) = objs.first() else { return };
    let (judged, channel) = versions::gateway_api(ctx);
    let Some(bundle) = loaded(judged.parts) else {
        out.push(INPUT_006.at(
            first.file,
            first.pos("apiVersion"),
            format!("Gateway API {} ({}) is not in the Go module cache; kinds and fields not judged", judged.version, judged.from),
        ));
        return;
    };
    let what = describe(&judged, channel, &bundle);
    for o in objs {
        let key = (o.group.clone(), o.kind.clone());
        let std = bundle.standard.get(&key);
        let exp = bundle.experimental.get(&key);
        // Unknown channel: judged against the experimental one, a superset,
        // so only what no channel serves is an error.
        let here = match channel {
            Some(Channel::Standard) => std,
            _ => exp.or(std),
        };
        match here.and_then(|vs| vs.get(&o.version)).filter(|s| s.served) {
            None => {
                let only_exp = channel == Some(Channel::Standard)
                    && exp.and_then(|vs| vs.get(&o.version)).is_some_and(|s| s.served);
                let why = if only_exp {
                    format!("only the experimental channel serves it; served here: {}", served_list(here))
                } else {
                    format!("served versions: {}", served_list(here))
                };
                out.push(GW_013.at(o.file, o.pos("apiVersion"), format!("{} {} is not served by {what}; {why}", o.kind, o.api_version)));
            }
            Some(s) if s.deprecated => {
                let newest = here
                    .and_then(|vs| vs.iter().filter(|(_, s)| s.served && !s.deprecated).map(|(v, _)| v.clone()).next_back())
                    .unwrap_or_default();
                out.push(GW_014.at(
                    o.file,
                    o.pos("apiVersion"),
                    format!("{} {} is deprecated in {what}; use {}/{newest}", o.kind, o.api_version, o.group),
                ));
            }
            Some(s) => {
                if channel != Some(Channel::Standard) {
                    continue;
                }
                let Some(e) = exp.and_then(|vs| vs.get(&o.version)) else { continue };
                let mut fields = Vec::new();
                let spec = o.get("spec");
                if let (Some(spec), Some(ss), Some(es)) = (spec, s.schema.children.get("spec"), e.schema.children.get("spec")) {
                    experimental_only(spec, ss, es, "spec", &mut fields);
                }
                for (pos, path) in fields {
                    out.push(
                        GW_015
                            .at(o.file, pos, format!("{} field is experimental-only in {what}", o.kind))
                            .with_path(path),
                    );
                }
            }
        }
    }
}

/// Keys that the experimental schema declares and the standard one does not.
fn experimental_only(node: &Node, std: &Schema, exp: &Schema, path: &str, out: &mut Vec<(Pos, String)>) {
    if std.open {
        return;
    }
    match &node.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                let Some(key) = k.scalar_text() else { continue };
                let full = format!("{path}.{key}");
                match (std.children.get(&key), exp.children.get(&key)) {
                    (Some(s), Some(e)) => experimental_only(v, s, e, &full, out),
                    (None, Some(_)) => out.push((k.pos, full)),
                    // Unknown to both channels: SCHEMA-001's to report.
                    _ => {}
                }
            }
        }
        Value::Seq(items) => {
            if let (Some(s), Some(e)) = (&std.items, &exp.items) {
                for i in items {
                    experimental_only(i, s, e, &format!("{path}[]"), out);
                }
            }
        }
        _ => {}
    }
}
