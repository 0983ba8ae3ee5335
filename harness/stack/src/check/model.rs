//! Typed views over parsed inputs: Kubernetes objects, Helm releases and
//! their values (inline, `valuesFrom` ConfigMaps, values files), RKE2
//! configs, Ansible task files, shell commands and Terraform files.
//!
//! Values-file recognition (documented in docs/check-rules.md): a document
//! without `apiVersion`/`kind` is Helm values when its file name contains
//! `values`, or when its top-level keys score as a known chart's values
//! (see [`chart_by_content`]). A ConfigMap data entry ending in `.yaml` is
//! values when a HelmRelease in the inputs references it via `valuesFrom`,
//! or when its content scores as a known chart's values.

use std::collections::BTreeSet;

use crate::diag::Finding;
use crate::yaml::{Node, Pos, Value};

use super::embed;
use super::input::{Format, Source};
use super::rules::YAML_002;

/// A Kubernetes object (any document with `apiVersion` and `kind`).
pub(crate) struct Obj<'a> {
    pub src: &'a Source,
    pub file: &'a str,
    pub node: &'a Node,
    pub api_version: String,
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    /// Where the object lands: Flux `targetNamespace`, else the outermost
    /// kustomize `namespace:`, else `metadata.namespace`. `None` when that
    /// is not knowable from the inputs (never assumed to be `default`).
    pub namespace: Option<String>,
    /// A SOPS-encrypted document (top-level `sops:`): values are ciphertext.
    pub sops: bool,
}

impl<'a> Obj<'a> {
    pub fn get(&self, path: &str) -> Option<&'a Node> {
        self.node.lookup(path)
    }

    pub fn str(&self, path: &str) -> Option<String> {
        self.get(path).and_then(Node::scalar_text)
    }

    /// Position of `path`, or of the object when it is absent.
    pub fn pos(&self, path: &str) -> Pos {
        self.get(path).map_or(self.node.pos, |n| n.pos)
    }

    /// Position of the key that holds `path` (better for "field present").
    pub fn key_pos(&self, path: &str) -> Pos {
        key_pos(self.node, path).unwrap_or(self.node.pos)
    }

    pub fn ns(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The namespace for messages.
    pub fn ns_text(&self) -> &str {
        self.namespace.as_deref().unwrap_or("<namespace unknown>")
    }

    pub fn is(&self, group: &str, kind: &str) -> bool {
        self.group == group && self.kind == kind
    }

    pub fn annotations(&self) -> Vec<(&'a Node, &'a Node)> {
        self.get("metadata.annotations")
            .and_then(Node::as_map)
            .map(|m| m.iter().map(|(k, v)| (k, v)).collect())
            .unwrap_or_default()
    }

    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {}/{}", self.kind, ns, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

/// Position of the key node at the end of a dotted path.
pub(crate) fn key_pos(node: &Node, path: &str) -> Option<Pos> {
    let (parent, last) = match path.rsplit_once('.') {
        Some((p, l)) => (node.lookup(p)?, l),
        None => (node, path),
    };
    parent.get_entry(last).map(|(k, _)| k.pos)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chart {
    Cilium,
    ExternalDns,
    CertManager,
    SealedSecrets,
    Other,
}

impl Chart {
    pub fn from_name(name: &str) -> Chart {
        match name {
            "cilium" | "rke2-cilium" => Chart::Cilium,
            "external-dns" => Chart::ExternalDns,
            "cert-manager" => Chart::CertManager,
            "sealed-secrets" => Chart::SealedSecrets,
            _ => Chart::Other,
        }
    }
}

/// A Flux HelmRelease (index into `Ctx::objects`) with derived facts.
pub(crate) struct Release {
    pub obj: usize,
    pub chart_name: String,
    pub chart: Chart,
    /// Where the chart's objects land: `targetNamespace`, else the
    /// HelmRelease's own namespace (`None`: not knowable from the inputs).
    pub target_ns: Option<String>,
    /// The chart version the release pins: `spec.chart.spec.version`, or the
    /// tag of the OCIRepository that `chartRef` names.
    pub version: Option<String>,
}

/// One Helm values document for a chart.
pub(crate) struct Values {
    pub file: String,
    pub chart: Chart,
    pub root: Node,
    /// Index into `Ctx::releases` when the values belong to a release.
    pub release: Option<usize>,
}

impl Values {
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.root.lookup(path)
    }

    pub fn str(&self, path: &str) -> Option<String> {
        self.get(path).and_then(Node::scalar_text)
    }

    pub fn truthy(&self, path: &str) -> bool {
        matches!(self.str(path).as_deref(), Some("true"))
    }

    pub fn pos(&self, path: &str) -> Pos {
        self.get(path).map_or(self.root.pos, |n| n.pos)
    }

    pub fn key_pos(&self, path: &str) -> Pos {
        key_pos(&self.root, path).unwrap_or(self.root.pos)
    }
}

pub(crate) struct Rke2<'a> {
    pub src: &'a Source,
    pub root: &'a Node,
}

impl Rke2<'_> {
    /// Every value of `key`, duplicates included (a repeated key is kept by
    /// the lenient parser so both lists are checked).
    pub fn all(&self, key: &str) -> Vec<(&Node, &Node)> {
        self.root
            .as_map()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.scalar_text().as_deref() == Some(key))
                    .map(|(k, v)| (k, v))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Items of a list-or-comma-string option (`disable`, `tls-san`).
    pub fn items(&self, key: &str) -> Vec<(String, Pos)> {
        let mut out = Vec::new();
        for (_, v) in self.all(key) {
            match &v.value {
                Value::Seq(items) => {
                    for i in items {
                        if let Some(t) = i.scalar_text() {
                            out.push((t, i.pos));
                        }
                    }
                }
                _ => {
                    if let Some(t) = v.scalar_text() {
                        for part in t.split(',') {
                            out.push((part.trim().to_owned(), v.pos));
                        }
                    }
                }
            }
        }
        out
    }

    pub fn has(&self, key: &str) -> bool {
        !self.all(key).is_empty()
    }

    /// A server (not agent) config: RKE2 only reads these keys on servers.
    pub fn is_server(&self) -> bool {
        // Only the file name decides: the checkout's own directory (say
        // /work/agent-ci/...) must not turn every config into an agent's.
        let p = std::path::Path::new(&self.src.path)
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if p.contains("agent") {
            return false;
        }
        p.contains("server")
            || ["cni", "disable", "tls-san", "cluster-cidr", "service-cidr", "disable-kube-proxy", "ingress-controller"]
                .iter()
                .any(|k| self.has(k))
    }
}

/// An Ansible task file or playbook.
pub(crate) struct Tasks<'a> {
    pub src: &'a Source,
    /// Every task mapping (plays are flattened).
    pub tasks: Vec<&'a Node>,
}

/// One shell command line with where it was written.
pub(crate) struct Command {
    pub file: String,
    pub pos: Pos,
    pub text: String,
}

pub(crate) struct Ctx<'a> {
    pub opts: &'a super::Options,
    pub objects: Vec<Obj<'a>>,
    /// Namespaces created by shared kustomize components (see
    /// [`super::namespaces::Namespaces::all_of`]).
    pub component_namespaces: Vec<String>,
    pub releases: Vec<Release>,
    pub values: Vec<Values>,
    /// What `valuesFrom` entries with a `targetPath` place into a release's
    /// values: only the path is known (the value may be a Secret), so only
    /// the chart-key check reads these.
    pub target_paths: Vec<Values>,
    /// Values files a configMapGenerator turns into a ConfigMap that a
    /// release reads: source path → (release index, chart).
    generated: std::collections::HashMap<String, (usize, Chart)>,
    pub rke2: Vec<Rke2<'a>>,
    pub tasks: Vec<Tasks<'a>>,
    pub commands: Vec<Command>,
    pub sources: &'a [Source],
}

const RKE2_KEYS: &[&str] = &[
    "cni", "disable", "tls-san", "node-name", "token", "server", "cluster-cidr", "service-cidr",
    "disable-kube-proxy", "kube-proxy-arg", "write-kubeconfig-mode", "node-ip", "node-taint",
    "node-label", "ingress-controller", "kubelet-arg", "kube-apiserver-arg", "agent-token",
    "data-dir", "profile", "selinux", "cloud-provider-name", "disable-cloud-controller",
];

const TASK_MODULE_KEYS: &[&str] = &[
    "modprobe", "community.general.modprobe", "sysctl", "ansible.posix.sysctl", "shell",
    "command", "ansible.builtin.shell", "ansible.builtin.command", "assert",
    "ansible.builtin.assert", "apt", "package", "copy", "template", "ansible.builtin.template",
];

const COMMAND_KEYS: &[&str] = &[
    "shell", "command", "cmd", "ansible.builtin.shell", "ansible.builtin.command", "script", "run",
];

impl<'a> Ctx<'a> {
    pub fn build(sources: &'a [Source], opts: &'a super::Options, findings: &mut Vec<Finding>) -> Ctx<'a> {
        let namespaces = super::namespaces::resolve(sources);
        let mut ctx = Ctx {
            opts,
            objects: Vec::new(),
            component_namespaces: Vec::new(),
            releases: Vec::new(),
            values: Vec::new(),
            target_paths: Vec::new(),
            generated: std::collections::HashMap::new(),
            rke2: Vec::new(),
            tasks: Vec::new(),
            commands: Vec::new(),
            sources,
        };
        let mut loose: Vec<(&'a Source, &'a Node)> = Vec::new();
        for src in sources {
            for d in &src.duplicates {
                let mut f = Finding::from_yaml_error(d);
                f.rule = YAML_002.id.into();
                f.severity = YAML_002.severity;
                f.hint = YAML_002.hint.into();
                findings.push(f);
            }
            match src.format {
                Format::Shell => ctx.commands.extend(shell_commands(&src.path, &src.text)),
                Format::Terraform => {}
                Format::Yaml | Format::Template => {
                    for doc in &src.docs {
                        collect_commands(&src.path, &doc.root, &mut ctx.commands);
                        if let Some(obj) = as_object(src, &doc.root, namespaces.of(&src.path)) {
                            if obj.kind == "Namespace" {
                                ctx.component_namespaces.extend(namespaces.all_of(&src.path).iter().cloned());
                            }
                            ctx.objects.push(obj);
                        } else if !doc.root.is_null() {
                            loose.push((src, &doc.root));
                        }
                    }
                }
            }
        }
        ctx.collect_releases(findings);
        for (src, root) in loose {
            ctx.classify_loose(src, root);
        }
        ctx
    }

    pub fn checked_count(&self) -> usize {
        let context: BTreeSet<&str> = self.sources.iter().filter(|s| s.context).map(|s| s.path.as_str()).collect();
        self.objects.iter().filter(|o| !o.src.context).count()
            + self.values.iter().filter(|v| !context.contains(v.file.as_str())).count()
            + self.rke2.iter().filter(|r| !r.src.context).count()
            + self.tasks.iter().filter(|t| !t.src.context).count()
    }

    /// Whether an object in `have` can be the one a reference to `want`
    /// means. An unknown namespace on either side matches by name.
    pub fn ns_match(&self, want: Option<&str>, have: Option<&str>) -> bool {
        match (want, have) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }

    /// The INPUT-005 note for a reference that resolved by name only.
    pub fn name_only(&self, file: &str, pos: Pos, what: &str, want: Option<&str>, found: Option<&str>) -> Option<Finding> {
        (want.is_none() || found.is_none()).then(|| {
            super::rules::INPUT_005.at(file, pos, format!("{what} matched by name only: its namespace is not knowable from the inputs"))
        })
    }

    /// Every Cilium version the inputs state, most authoritative first: the
    /// Cilium release's pinned chart, a `helm install --version` line,
    /// `--cilium-version`, else the default profile's version (the stack
    /// `render` produces).
    fn cilium_versions(&self) -> impl Iterator<Item = String> + '_ {
        self.releases
            .iter()
            .filter(|r| r.chart == Chart::Cilium)
            .filter_map(|r| r.version.clone())
            .chain(self.commands.iter().filter_map(|c| helm_cilium_version(&c.text)))
            .chain(self.opts.cilium_version.clone())
            .chain(self.opts.profile.as_ref().map(|p| p.cilium.clone()))
            .chain(default_profile_cilium())
    }

    /// The Cilium version the inputs pin, as written.
    pub fn cilium_version(&self) -> Option<String> {
        self.cilium_versions().next()
    }

    /// The Cilium minor the rules judge against: the first stated version
    /// that has one.
    pub fn cilium_minor(&self) -> u64 {
        self.cilium_versions()
            .find_map(|v| minor_of(&v))
            .unwrap_or(CURRENT_CILIUM_MINOR)
    }

    pub fn terraform(&self) -> impl Iterator<Item = &'a Source> {
        self.sources.iter().filter(|s| s.format == Format::Terraform)
    }

    pub fn kinds<'s>(&'s self, group: &'s str, kind: &'s str) -> impl Iterator<Item = &'s Obj<'a>> {
        self.objects.iter().filter(move |o| o.is(group, kind))
    }

    pub fn cilium_values(&self) -> impl Iterator<Item = &Values> {
        self.values.iter().filter(|v| v.chart == Chart::Cilium)
    }

    pub fn release_obj(&self, r: &Release) -> &Obj<'a> {
        &self.objects[r.obj]
    }

    /// Whether `v`, or another values document of the same release (inline
    /// values, a valuesFrom ConfigMap, a `targetPath` entry), sets `path`:
    /// Flux merges them all before Helm sees them.
    pub fn release_sets(&self, v: &Values, path: &str) -> bool {
        v.get(path).is_some()
            || v.release.is_some_and(|r| {
                self.values.iter().chain(&self.target_paths).any(|o| o.release == Some(r) && o.get(path).is_some())
            })
    }

    pub fn release_of(&self, v: &Values) -> Option<&Release> {
        v.release.map(|i| &self.releases[i])
    }

    fn collect_releases(&mut self, findings: &mut Vec<Finding>) {
        let mut referenced: BTreeSet<String> = BTreeSet::new();
        let generators = super::generators::collect(self.sources);
        for (i, obj) in self.objects.iter().enumerate() {
            if !obj.is("helm.toolkit.fluxcd.io", "HelmRelease") {
                continue;
            }
            let oci = obj.str("spec.chartRef.name").and_then(|name| {
                let ns = obj.str("spec.chartRef.namespace").or_else(|| obj.namespace.clone());
                self.objects.iter().find(|o| {
                    o.kind == "OCIRepository"
                        && o.name == name
                        && (ns.is_none() || o.namespace.is_none() || o.namespace == ns)
                })
            });
            let chart_name = obj
                .str("spec.chart.spec.chart")
                .or_else(|| {
                    oci.and_then(|o| o.str("spec.url")).and_then(|u| u.rsplit('/').next().map(str::to_owned))
                })
                .or_else(|| obj.str("spec.chartRef.name"))
                .unwrap_or_default();
            let chart = Chart::from_name(&chart_name);
            let version = obj
                .str("spec.chart.spec.version")
                .or_else(|| oci.and_then(|o| o.str("spec.ref.tag").or_else(|| o.str("spec.ref.semver"))));
            let target_ns = obj
                .str("spec.targetNamespace")
                .filter(|t| !t.contains("${"))
                .or_else(|| obj.namespace.clone());
            let rel = self.releases.len();
            self.releases.push(Release { obj: i, chart_name, chart, target_ns, version });
            if let Some(inline) = obj.get("spec.values")
                && inline.as_map().is_some()
            {
                self.values.push(Values {
                    file: obj.file.to_owned(),
                    chart,
                    root: inline.clone(),
                    release: Some(rel),
                });
            }
            let Some(froms) = obj.get("spec.valuesFrom").and_then(Node::as_seq) else { continue };
            for from in froms {
                let kind = from.get("kind").and_then(Node::as_str);
                if let Some(tp) = from.get("targetPath")
                    && let Some(path) = tp.scalar_text()
                    && matches!(kind, Some("ConfigMap" | "Secret"))
                {
                    if let Some(root) = at_target_path(&path, tp.pos) {
                        self.target_paths.push(Values { file: obj.file.to_owned(), chart, root, release: Some(rel) });
                    }
                    continue;
                }
                if kind != Some("ConfigMap") {
                    continue;
                }
                let Some(name) = from.get("name").and_then(Node::scalar_text) else { continue };
                let key = from
                    .get("valuesKey")
                    .and_then(Node::scalar_text)
                    .unwrap_or_else(|| "values.yaml".into());
                referenced.insert(name.clone());
                let Some(cm) = self.objects.iter().find(|o| {
                    o.group.is_empty()
                        && o.kind == "ConfigMap"
                        && o.name == name
                        && (o.ns().is_none() || obj.ns().is_none() || o.ns() == obj.ns())
                }) else {
                    if let Some(g) = super::generators::find(&generators, &name, &key, obj.file) {
                        self.generated.insert(g.file.clone(), (rel, chart));
                    }
                    continue;
                };
                let Some(text_node) = cm.get("data").and_then(|d| d.get(&key)) else { continue };
                let Some(text) = text_node.as_str() else { continue };
                match embed::parse(cm.file, text_node.pos, text) {
                    Ok(nodes) => {
                        for root in nodes.into_iter().filter(|n| n.as_map().is_some()) {
                            self.values.push(Values {
                                file: cm.file.to_owned(),
                                chart,
                                root,
                                release: Some(rel),
                            });
                        }
                    }
                    Err(f) => findings.push(*f),
                }
            }
        }
        // RKE2's bundled chart is tuned through a HelmChartConfig whose
        // `valuesContent` is the Cilium values.
        for obj in &self.objects {
            if obj.kind != "HelmChartConfig" || obj.name != "rke2-cilium" {
                continue;
            }
            let Some(v) = obj.get("spec.valuesContent") else { continue };
            let Some(text) = v.as_str() else { continue };
            match embed::parse(obj.file, v.pos, text) {
                Ok(nodes) => {
                    for root in nodes.into_iter().filter(|n| n.as_map().is_some()) {
                        self.values.push(Values { file: obj.file.to_owned(), chart: Chart::Cilium, root, release: None });
                    }
                }
                Err(f) => findings.push(*f),
            }
        }
        // Values ConfigMaps nobody references: recognise them by content.
        for obj in &self.objects {
            if !(obj.group.is_empty() && obj.kind == "ConfigMap")
                || referenced.contains(&obj.name)
            {
                continue;
            }
            let Some(data) = obj.get("data").and_then(Node::as_map) else { continue };
            for (k, v) in data {
                let key = k.scalar_text().unwrap_or_default();
                if !(key.ends_with(".yaml") || key.ends_with(".yml")) {
                    continue;
                }
                let Some(text) = v.as_str() else { continue };
                let Ok(nodes) = embed::parse(obj.file, v.pos, text) else { continue };
                for root in nodes {
                    let chart = chart_by_name(&obj.name).or_else(|| chart_by_content(&root));
                    if let Some(chart) = chart {
                        self.values.push(Values { file: obj.file.to_owned(), chart, root, release: None });
                    }
                }
            }
        }
    }

    fn classify_loose(&mut self, src: &'a Source, root: &'a Node) {
        if root.get("sops").is_some() {
            return;
        }
        if let Some(&(rel, chart)) = self.generated.get(&src.path)
            && root.as_map().is_some()
        {
            self.values.push(Values { file: src.path.clone(), chart, root: root.clone(), release: Some(rel) });
            return;
        }
        let base = src.path.rsplit('/').next().unwrap_or(&src.path).to_ascii_lowercase();
        if root.as_seq().is_some() || root.get("tasks").is_some() {
            let tasks = flatten_tasks(root);
            if !tasks.is_empty() {
                self.tasks.push(Tasks { src, tasks });
                return;
            }
        }
        let Some(map) = root.as_map() else { return };
        let path = src.path.to_ascii_lowercase();
        let rke2_keys = map
            .iter()
            .filter(|(k, _)| k.as_str().is_some_and(|k| RKE2_KEYS.contains(&k)))
            .count();
        let named_rke2 = path.contains("rke2") && (base.starts_with("config") || base.contains("config"));
        if !base.contains("values") && (rke2_keys >= 2 || (named_rke2 && rke2_keys >= 1)) {
            self.rke2.push(Rke2 { src, root });
            return;
        }
        let chart = if base.contains("values") {
            Some(chart_by_name(&base).or_else(|| chart_by_content(root)).unwrap_or(Chart::Other))
        } else {
            chart_by_content(root)
        };
        if let Some(chart) = chart {
            self.values.push(Values { file: src.path.clone(), chart, root: root.clone(), release: None });
        }
    }
}

/// The values a `valuesFrom` entry with `targetPath` contributes: one
/// value at a dotted path in Helm's `--set` syntax (`a.b`, `a\\.b` for a dot
/// in a key, `a[0]` for a list item, below which keys are not judged). Every
/// node sits at the `targetPath` in the HelmRelease, where a wrong key is
/// fixed.
fn at_target_path(path: &str, pos: Pos) -> Option<Node> {
    let mut segs = vec![String::new()];
    let mut escaped = false;
    for c in path.chars() {
        match c {
            _ if escaped => {
                escaped = false;
                segs.last_mut()?.push(c);
            }
            '\\' => escaped = true,
            '.' => segs.push(String::new()),
            _ => segs.last_mut()?.push(c),
        }
    }
    if let Some(i) = segs.iter().position(|s| s.contains('[')) {
        segs.truncate(i + 1);
    }
    let mut node = Node { pos, value: Value::Null };
    for seg in segs.iter().rev() {
        let (name, list) = match seg.split_once('[') {
            Some((n, _)) => (n, true),
            None => (seg.as_str(), false),
        };
        if name.is_empty() {
            return None;
        }
        if list {
            node = Node { pos, value: Value::Seq(vec![node]) };
        }
        node = Node { pos, value: Value::Map(vec![(Node { pos, value: Value::Str(name.to_owned()) }, node)]) };
    }
    Some(node)
}

/// `--version X` of a `helm install|upgrade … cilium` command line.
fn helm_cilium_version(cmd: &str) -> Option<String> {
    if !(cmd.contains("helm ") && cmd.contains("cilium") && (cmd.contains(" install") || cmd.contains(" upgrade"))) {
        return None;
    }
    let mut words = cmd.split_whitespace();
    while let Some(w) = words.next() {
        if w == "--version" {
            return words.next().map(|v| v.trim_matches(['"', '\'']).to_owned());
        }
        if let Some(v) = w.strip_prefix("--version=") {
            return Some(v.trim_matches(['"', '\'']).to_owned());
        }
    }
    None
}

/// The Cilium version of the embedded default profile.
fn default_profile_cilium() -> Option<String> {
    static V: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    V.get_or_init(|| crate::profile::load_default().ok().map(|l| l.profile.versions.cilium)).clone()
}

/// The Cilium line the rules assume when nothing pins one.
pub(crate) const CURRENT_CILIUM_MINOR: u64 = 20;

/// `1.19.4`, `v1.19.x`, `~1.19.0`, `>=1.19.0 <1.20.0` → 19.
pub(crate) fn minor_of(v: &str) -> Option<u64> {
    let digits = v.trim_start_matches(|c: char| !c.is_ascii_digit());
    let mut it = digits.split('.');
    match (it.next(), it.next()) {
        (Some("1"), Some(m)) => m.trim_end_matches(|c: char| !c.is_ascii_digit()).parse().ok(),
        _ => None,
    }
}

/// Kinds whose objects have no namespace (kustomize leaves them alone).
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "GatewayClass", "ClusterIssuer",
    "CiliumClusterwideNetworkPolicy", "CiliumLoadBalancerIPPool", "CiliumBGPClusterConfig", "CiliumBGPPeerConfig",
    "CiliumBGPAdvertisement", "CiliumBGPNodeConfigOverride", "CiliumBGPPeeringPolicy", "CiliumL2AnnouncementPolicy",
    "StorageClass", "PriorityClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
    "CiliumNodeConfig", "IngressClass", "ClusterSecretStore", "ClusterExternalSecret",
];

fn as_object<'a>(src: &'a Source, root: &'a Node, ns: &super::namespaces::Override) -> Option<Obj<'a>> {
    let api_version = root.get("apiVersion")?.scalar_text()?;
    let kind = root.get("kind")?.scalar_text()?;
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g.to_owned(), v.to_owned()),
        None => (String::new(), api_version.clone()),
    };
    Some(Obj {
        src,
        file: &src.path,
        node: root,
        // kustomize's namespace transformer also renames Namespace objects
        // (the `name: _` placeholder in shared components).
        name: match ns {
            super::namespaces::Override::Set(n) if kind == "Namespace" => n.clone(),
            _ => root.lookup("metadata.name").and_then(Node::scalar_text).unwrap_or_default(),
        },
        namespace: if CLUSTER_SCOPED.contains(&kind.as_str()) {
            None
        } else {
            match ns {
                super::namespaces::Override::Set(n) => Some(n.clone()),
                super::namespaces::Override::Unknown => None,
                super::namespaces::Override::Keep => {
                    root.lookup("metadata.namespace").and_then(Node::scalar_text).filter(|n| !n.contains("${"))
                }
            }
        },
        sops: root.get("sops").is_some_and(|s| s.as_map().is_some()),
        api_version,
        group,
        version,
        kind,
    })
}

fn chart_by_name(name: &str) -> Option<Chart> {
    let n = name.to_ascii_lowercase();
    if n.contains("cilium") {
        Some(Chart::Cilium)
    } else if n.contains("external-dns") || n.contains("externaldns") {
        Some(Chart::ExternalDns)
    } else if n.contains("cert-manager") || n.contains("certmanager") {
        Some(Chart::CertManager)
    } else if n.contains("sealed-secrets") {
        Some(Chart::SealedSecrets)
    } else {
        None
    }
}

const CILIUM_KEYS: &[&str] = &[
    "kubeProxyReplacement", "k8sServiceHost", "k8sServicePort", "routingMode", "tunnel",
    "tunnelProtocol", "ipam", "hubble", "bgpControlPlane", "gatewayAPI", "bpf", "encryption",
    "ipv4NativeRoutingCIDR", "autoDirectNodeRoutes", "l2announcements", "envoy",
    "bandwidthManager", "socketLB", "loadBalancer", "enableBandwidthManager",
    "enableLocalRedirectPolicy", "enableSocketLB", "localRedirectPolicies", "cni", "operator",
];
const EXTERNAL_DNS_KEYS: &[&str] = &[
    "provider", "sources", "txtOwnerId", "domainFilters", "policy", "registry", "txtPrefix",
    "extraArgs", "env",
];
const CERT_MANAGER_KEYS: &[&str] = &[
    "installCRDs", "crds", "webhook", "cainjector", "startupapicheck", "dns01RecursiveNameservers",
    "dns01RecursiveNameserversOnly", "extraArgs", "prometheus",
];

/// Scores top-level keys against each chart; a distinctive key counts as
/// enough on its own, otherwise two known keys are needed.
pub(crate) fn chart_by_content(root: &Node) -> Option<Chart> {
    let keys: Vec<String> = root.as_map()?.iter().filter_map(|(k, _)| k.scalar_text()).collect();
    let score = |set: &[&str]| keys.iter().filter(|k| set.contains(&k.as_str())).count();
    let has = |k: &str| keys.iter().any(|x| x == k);
    if has("kubeProxyReplacement") || score(CILIUM_KEYS) >= 3 {
        return Some(Chart::Cilium);
    }
    if has("txtOwnerId") || (has("provider") && has("sources")) || score(EXTERNAL_DNS_KEYS) >= 3 {
        return Some(Chart::ExternalDns);
    }
    if has("installCRDs") || has("dns01RecursiveNameservers") || score(CERT_MANAGER_KEYS) >= 2 {
        return Some(Chart::CertManager);
    }
    None
}

fn flatten_tasks(root: &Node) -> Vec<&Node> {
    let mut out = Vec::new();
    let items: Vec<&Node> = match root.as_seq() {
        Some(s) => s.iter().collect(),
        None => vec![root],
    };
    for item in items {
        if item.as_map().is_none() {
            return Vec::new();
        }
        for nested in ["tasks", "pre_tasks", "post_tasks", "block", "handlers"] {
            if let Some(inner) = item.get(nested) {
                out.extend(flatten_tasks(inner));
            }
        }
        let is_task = item
            .as_map()
            .is_some_and(|m| m.iter().any(|(k, _)| k.as_str().is_some_and(|k| TASK_MODULE_KEYS.contains(&k))));
        if is_task {
            out.push(item);
        }
    }
    out
}

fn collect_commands(file: &str, node: &Node, out: &mut Vec<Command>) {
    match &node.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                let key = k.scalar_text().unwrap_or_default();
                if COMMAND_KEYS.contains(&key.as_str()) {
                    if let Some(text) = v.as_str() {
                        push_lines(file, v.pos, text, out);
                    } else if let Some(cmd) = v.get("cmd").and_then(Node::as_str) {
                        push_lines(file, v.pos, cmd, out);
                    }
                }
                collect_commands(file, v, out);
            }
        }
        Value::Seq(items) => items.iter().for_each(|i| collect_commands(file, i, out)),
        _ => {}
    }
}

fn push_lines(file: &str, pos: Pos, text: &str, out: &mut Vec<Command>) {
    for c in shell_commands(file, text) {
        let line = pos.line + c.pos.line - 1;
        let col = if c.pos.line == 1 { pos.col + c.pos.col - 1 } else { c.pos.col };
        out.push(Command { file: file.to_owned(), pos: Pos { line, col }, text: c.text });
    }
}

/// Logical command lines (backslash continuations joined, comments dropped).
pub(crate) fn shell_commands(file: &str, text: &str) -> Vec<Command> {
    let mut out = Vec::new();
    let mut pending: Option<Command> = None;
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        let line = i as u32 + 1;
        if pending.is_none() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        let (body, cont) = match trimmed.trim_end().strip_suffix('\\') {
            Some(b) => (b, true),
            None => (trimmed.trim_end(), false),
        };
        let cmd = pending.get_or_insert_with(|| Command {
            file: file.to_owned(),
            pos: Pos { line, col: (raw.len() - trimmed.len()) as u32 + 1 },
            text: String::new(),
        });
        if !cmd.text.is_empty() {
            cmd.text.push(' ');
        }
        cmd.text.push_str(body.trim());
        if !cont && let Some(c) = pending.take() {
            out.push(c);
        }
    }
    out.extend(pending);
    out
}
