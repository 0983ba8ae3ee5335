//! Inputs for the `infraflux check` versus kubeconform benchmark
//! (`.ci/bench-check`): a tree of valid manifests of the stack's CRD kinds,
//! and kubeconform JSON schemas derived from the pinned upstream CRDs.
//!
//! The tree is made of tenants. Each tenant is one file of ten objects that
//! reference each other the way a real app's manifests do (Gateway ←
//! HTTPRoutes, Certificate → the shared ClusterIssuer, HelmRelease →
//! HelmRepository, BGP peer config → advertisement), so the cross-object
//! rules do real work. Core kinds are left out: kubeconform has no offline
//! schema for them (see docs/benchmarks.md). Output is deterministic.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

/// Failures while writing the tree or converting CRDs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to write {path}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Yaml(#[from] infraflux_model::yaml::Error),
    #[error("{file}: CRD has no `{field}`")]
    Crd { file: String, field: &'static str },
}

/// Objects per tenant file.
pub const PER_TENANT: usize = 10;

/// Objects shared by every tenant (one file): the ClusterIssuer the
/// Certificates name and the BGP cluster config that names the peer configs
/// of the first `peers` tenants.
fn shared(peers: usize) -> String {
    let mut s = String::from(
        "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata:\n  name: letsencrypt\nspec:\n  acme:\n    \
         server: https://acme-v02.api.letsencrypt.org/directory\n    email: ops@example.com\n    \
         privateKeySecretRef:\n      name: letsencrypt-account\n    solvers:\n      - dns01:\n          \
         cloudflare:\n            apiTokenSecretRef:\n              name: cloudflare-api-token\n              \
         key: api-token\n",
    );
    s.push_str(
        "---\napiVersion: cilium.io/v2\nkind: CiliumBGPClusterConfig\nmetadata:\n  name: tenants\nspec:\n  \
         nodeSelector:\n    matchLabels:\n      bgp: enabled\n  bgpInstances:\n    - name: asn65001\n      \
         localASN: 65001\n      peers:\n",
    );
    for t in 0..peers {
        let _ = write!(
            s,
            "        - name: peer-{t}\n          peerAddress: 172.16.{}.{}\n          peerASN: {}\n          \
             peerConfigRef:\n            name: peer-{t}\n",
            t / 250,
            t % 250 + 1,
            64512 + (t % 1000)
        );
    }
    s
}

/// Position of the CiliumBGPPeerConfig in a tenant: a short last tenant
/// without one must not be named by the cluster config.
const PEER_DOC: usize = 3;

/// The `i`-th tenant's manifest: its first `objects` (at most
/// [`PER_TENANT`]) documents. The HelmRelease that creates the namespace
/// comes first so a short tenant still has it.
fn tenant(i: usize, objects: usize) -> String {
    let ns = format!("tenant-{i:04}");
    let docs = [
        format!(
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: charts\n  \
             namespace: flux-system\n  labels:\n    tenant: {ns}\nspec:\n  interval: 1h\n  \
             url: https://charts.example.com/{ns}\n"
        )
        .replace("name: charts\n", &format!("name: charts-{i:04}\n")),
        format!(
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: {ns}\n  \
             namespace: flux-system\nspec:\n  interval: 10m\n  targetNamespace: {ns}\n  releaseName: web\n  \
             install:\n    createNamespace: true\n    remediation:\n      retries: 3\n  upgrade:\n    \
             remediation:\n      retries: 3\n  chart:\n    spec:\n      chart: web\n      version: \"1.4.x\"\n      \
             sourceRef:\n        kind: HelmRepository\n        name: charts-{i:04}\n  values:\n    \
             replicaCount: 2\n    image:\n      tag: \"1.27\"\n    service:\n      port: 8080\n"
        ),
        format!(
            "apiVersion: cilium.io/v2\nkind: CiliumLoadBalancerIPPool\nmetadata:\n  name: {ns}\nspec:\n  \
             blocks:\n    - cidr: 10.{}.{}.0/28\n  serviceSelector:\n    matchLabels:\n      \
             io.kubernetes.service.namespace: {ns}\n",
            100 + i / 256,
            i % 256
        ),
        format!(
            "apiVersion: cilium.io/v2\nkind: CiliumBGPPeerConfig\nmetadata:\n  name: peer-{i}\nspec:\n  \
             timers:\n    holdTimeSeconds: 9\n    keepAliveTimeSeconds: 3\n  gracefulRestart:\n    \
             enabled: true\n    restartTimeSeconds: 15\n  families:\n    - afi: ipv4\n      safi: unicast\n      \
             advertisements:\n        matchLabels:\n          advertise: {ns}\n"
        ),
        format!(
            "apiVersion: cilium.io/v2\nkind: CiliumBGPAdvertisement\nmetadata:\n  name: {ns}\n  labels:\n    \
             advertise: {ns}\nspec:\n  advertisements:\n    - advertisementType: Service\n      service:\n        \
             addresses:\n          - LoadBalancerIP\n      selector:\n        matchLabels:\n          \
             io.kubernetes.service.namespace: {ns}\n"
        ),
        format!(
            "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  \
             endpointSelector:\n    matchLabels:\n      app: web\n  ingress:\n    - fromEndpoints:\n        \
             - matchLabels:\n            io.kubernetes.pod.namespace: {ns}\n      toPorts:\n        \
             - ports:\n            - port: \"8080\"\n              protocol: TCP\n          rules:\n            \
             http:\n              - method: GET\n                path: \"/api/.*\"\n    - fromEntities:\n        - ingress\n  egress:\n    \
             - toEndpoints:\n        - matchLabels:\n            \"k8s:io.kubernetes.pod.namespace\": kube-system\n            \
             \"k8s:k8s-app\": kube-dns\n      toPorts:\n        - ports:\n            - port: \"53\"\n              \
             protocol: ANY\n          rules:\n            dns:\n              - matchPattern: \"*\"\n"
        ),
        format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: web\n  namespace: {ns}\n\
             spec:\n  gatewayClassName: cilium\n  addresses:\n    - type: IPAddress\n      value: 10.{}.{}.1\n  \
             listeners:\n    - name: https\n      hostname: \"{ns}.apps.example.com\"\n      port: 443\n      \
             protocol: HTTPS\n      tls:\n        mode: Terminate\n        certificateRefs:\n          \
             - name: {ns}-tls\n      allowedRoutes:\n        namespaces:\n          from: Same\n",
            100 + i / 256,
            i % 256
        ),
        format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: web\n  namespace: {ns}\n\
             spec:\n  parentRefs:\n    - name: web\n      sectionName: https\n  hostnames:\n    \
             - \"{ns}.apps.example.com\"\n  rules:\n    - matches:\n        - path:\n            type: PathPrefix\n            \
             value: /\n      backendRefs:\n        - name: web\n          port: 8080\n"
        ),
        format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: api\n  namespace: {ns}\n\
             spec:\n  parentRefs:\n    - name: web\n      sectionName: https\n  hostnames:\n    \
             - \"{ns}.apps.example.com\"\n  rules:\n    - matches:\n        - path:\n            type: PathPrefix\n            \
             value: /api\n          headers:\n            - name: x-tenant\n              value: \"{ns}\"\n      \
             filters:\n        - type: RequestHeaderModifier\n          requestHeaderModifier:\n            \
             add:\n              - name: x-route\n                value: api\n      backendRefs:\n        \
             - name: api\n          port: 8080\n          weight: 100\n"
        ),
        format!(
            "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata:\n  name: {ns}-tls\n  namespace: {ns}\n\
             spec:\n  secretName: {ns}-tls\n  dnsNames:\n    - \"{ns}.apps.example.com\"\n  duration: 2160h\n  \
             renewBefore: 360h\n  privateKey:\n    algorithm: ECDSA\n    size: 256\n    rotationPolicy: Always\n  \
             issuerRef:\n    name: letsencrypt\n    kind: ClusterIssuer\n    group: cert-manager.io\n"
        ),
    ];
    docs.iter().take(objects).map(String::as_str).collect::<Vec<_>>().join("---\n")
}

/// Files (relative path, text) holding exactly `objects` objects: the shared
/// file plus tenants of [`PER_TENANT`] objects (the last one may be short).
pub fn generate(objects: usize) -> Vec<(String, String)> {
    const SHARED: usize = 2;
    let rest = objects.saturating_sub(SHARED);
    let tenants = rest.div_ceil(PER_TENANT);
    let mut out = Vec::with_capacity(tenants + 1);
    if objects >= SHARED {
        let last = rest - tenants.saturating_sub(1) * PER_TENANT;
        let peers = if last > PEER_DOC { tenants } else { tenants.saturating_sub(1) };
        out.push(("shared/cluster.yaml".to_owned(), shared(peers)));
    }
    for t in 0..tenants {
        let n = (rest - t * PER_TENANT).min(PER_TENANT);
        // Spread over directories like a repo with one folder per team.
        out.push((format!("team-{:02}/tenant-{t:04}.yaml", t % 20), tenant(t, n)));
    }
    out
}

/// Writes [`generate`]`(objects)` under `dir`; returns the number of files.
pub fn write_tree(dir: &Path, objects: usize) -> Result<usize, Error> {
    let files = generate(objects);
    for (rel, text) in &files {
        let path = dir.join(rel);
        let err = |source| Error::Write { path: path.display().to_string(), source };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        std::fs::write(&path, text).map_err(err)?;
    }
    Ok(files.len())
}

/// kubeconform schemas for every version of every CRD in `crd_files`, as
/// (relative path `<group>/<kind lowercase>_<version>.json`, JSON text),
/// matching `-schema-location '<dir>/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json'`.
///
/// The schema is the version's `openAPIV3Schema`, post-processed the way
/// kubeconform's own CRD converter does it: every object schema that lists
/// `properties` (below the root) gets `additionalProperties: false` unless it
/// sets one, so `-strict` rejects unknown fields; `format: int-or-string`
/// becomes a string-or-integer `oneOf`.
pub fn crd_json_schemas(crd_files: &[PathBuf]) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    for file in crd_files {
        for doc in infraflux_model::yaml::parse_file(file)? {
            let crd = doc.root.to_json();
            if crd.get("kind").and_then(Json::as_str) != Some("CustomResourceDefinition") {
                continue;
            }
            let missing = |field| Error::Crd { file: file.display().to_string(), field };
            let spec = crd.get("spec").ok_or_else(|| missing("spec"))?;
            let group = spec.get("group").and_then(Json::as_str).ok_or_else(|| missing("spec.group"))?;
            let kind = spec.pointer("/names/kind").and_then(Json::as_str).ok_or_else(|| missing("spec.names.kind"))?;
            let versions = spec.get("versions").and_then(Json::as_array).ok_or_else(|| missing("spec.versions"))?;
            for v in versions {
                let (Some(name), Some(schema)) =
                    (v.get("name").and_then(Json::as_str), v.pointer("/schema/openAPIV3Schema"))
                else {
                    continue;
                };
                let mut schema = schema.clone();
                strictify(&mut schema, true);
                let text = serde_json::to_string(&schema).unwrap_or_default();
                out.push((format!("{group}/{}_{name}.json", kind.to_ascii_lowercase()), text));
            }
        }
    }
    Ok(out)
}

/// Branches of these only add constraints to their parent (CiliumNetworkPolicy
/// requires one of `ingress`/`egress`/… through `anyOf` branches that list
/// just that property); closing them would reject every valid policy, so
/// they are left as written. This is where the conversion departs from
/// kubeconform's own converter, which closes them too.
const COMBINATORS: &[&str] = &["anyOf", "oneOf", "allOf", "not"];

fn strictify(v: &mut Json, root: bool) {
    match v {
        Json::Object(m) => {
            if m.get("format").and_then(Json::as_str) == Some("int-or-string") {
                let mut alt = Map::new();
                alt.insert(
                    "oneOf".into(),
                    serde_json::json!([{ "type": "string" }, { "type": "integer" }]),
                );
                *m = alt;
                return;
            }
            if !root && m.contains_key("properties") && !m.contains_key("additionalProperties") {
                m.insert("additionalProperties".into(), Json::Bool(false));
            }
            for (key, child) in m.iter_mut() {
                if COMBINATORS.contains(&key.as_str()) {
                    continue;
                }
                strictify(child, false);
            }
        }
        Json::Array(a) => a.iter_mut().for_each(|c| strictify(c, false)),
        _ => {}
    }
}

/// Writes [`crd_json_schemas`] under `dir`; returns the number of schemas.
pub fn write_schemas(dir: &Path, crd_files: &[PathBuf]) -> Result<usize, Error> {
    let schemas = crd_json_schemas(crd_files)?;
    for (rel, text) in &schemas {
        let path = dir.join(rel);
        let err = |source| Error::Write { path: path.display().to_string(), source };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        std::fs::write(&path, text).map_err(err)?;
    }
    Ok(schemas.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_exactly_the_requested_count() {
        for n in [2, 3, 11, 12, 300, 1001] {
            let total: usize = generate(n)
                .iter()
                .map(|(_, t)| t.matches("\napiVersion:").count() + usize::from(t.starts_with("apiVersion:")))
                .sum();
            assert_eq!(total, n, "objects for n={n}");
        }
    }

    #[test]
    fn small_tree_passes_check_without_errors() {
        let texts: Vec<(String, String)> = generate(300);
        let report = infraflux_stack::check::check_texts(&texts).expect("generated YAML parses");
        let errors: Vec<String> = report
            .findings
            .iter()
            .filter(|f| f.severity == infraflux_model::diag::Severity::Error)
            .map(|f| f.to_string())
            .collect();
        assert!(errors.is_empty(), "error findings:\n{}", errors.join("\n"));
        // Each HelmRelease's inline values are checked as a values document too.
        let releases: usize = texts.iter().map(|(_, t)| t.matches("kind: HelmRelease\n").count()).sum();
        assert_eq!(report.objects_checked, 300 + releases);
    }

    #[test]
    fn strictify_closes_nested_objects_but_not_the_root() {
        let mut s = serde_json::json!({
            "properties": {
                "spec": { "type": "object", "properties": { "port": { "format": "int-or-string" } } },
                "labels": { "type": "object", "additionalProperties": { "type": "string" } }
            }
        });
        strictify(&mut s, true);
        assert!(s.get("additionalProperties").is_none());
        assert_eq!(s.pointer("/properties/spec/additionalProperties"), Some(&Json::Bool(false)));
        assert_eq!(s.pointer("/properties/labels/additionalProperties/type"), Some(&serde_json::json!("string")));
        assert!(s.pointer("/properties/spec/properties/port/oneOf").is_some());
        let mut cnp = serde_json::json!({
            "properties": { "spec": { "type": "object",
                "properties": { "ingress": { "type": "array" } },
                "anyOf": [{ "properties": { "ingress": {} }, "required": ["ingress"] }] } }
        });
        strictify(&mut cnp, true);
        assert!(cnp.pointer("/properties/spec/anyOf/0/additionalProperties").is_none());
    }
}
