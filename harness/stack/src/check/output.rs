//! Human and JSON renderings of a report and of the catalog. All text goes
//! through `secret::redact` so a token that ended up in a manifest is never
//! echoed back.

use crate::diag::Severity;
use crate::secret;

use super::CheckReport;

/// How inputs are recognised (part of docs/check-rules.md).
pub(crate) const INPUTS_DOC: &str = "## Inputs\n\n\
- Files and directories (recursive, sorted; hidden entries and `target/` skipped). `.yaml`/`.yml`/`.json` are YAML; \
`.j2`/`.jinja`/`.jinja2`/`.tpl` are Jinja templates of YAML, checked as rendered-as-written (`{{ x }}` becomes a placeholder of the \
same width, `{% … %}` blanks, so positions stay true); `.sh`/`.bash` are shell scripts; `.tf` is Terraform scanned as text.\n\
- A document with `apiVersion` and `kind` is a Kubernetes object. A Flux HelmRelease contributes its inline `spec.values` and the \
ConfigMaps its `valuesFrom` names (if they are in the inputs) as Helm values of its chart; positions inside the embedded values point \
into the ConfigMap's file. A `valuesFrom` name that no ConfigMap in the inputs has is matched against kustomize `configMapGenerator` \
names (the generated name carries a hash suffix unless `disableNameSuffixHash`), the entry whose key is the `valuesKey` (`key=path`, \
else the file's base name; the generator nearest the HelmRelease wins), and that file is read as the release's values. A `valuesFrom` \
entry with `targetPath` (ConfigMap or Secret) places one value at that dotted path (`a\\.b` escapes a dot, `a[0]` stops the path at a \
list): CHART-001 looks the path up in the chart, and rules that need a key to be set count it as set.\n\
- A document without `apiVersion`/`kind` is Helm values when its file name contains `values` (chart from the name: cilium, \
external-dns, cert-manager, sealed-secrets; else by content), or when its top-level keys score as a chart's values \
(`kubeProxyReplacement` or three Cilium keys; `txtOwnerId` or provider+sources; `installCRDs` or two cert-manager keys). \
A ConfigMap data entry ending in `.yaml` that no HelmRelease references is scored the same way.\n\
- An RKE2 config is a mapping with two or more RKE2 option keys (`cni`, `disable`, `tls-san`, `token`, `server`, …), or one such key \
in a file under an `rke2` path named `config*`. A sequence of Ansible tasks (or plays with `tasks`) is node preparation. Strings under \
`shell`/`command`/`cmd`/`run` keys and script lines are shell commands.\n\
- An unreadable file or a YAML syntax error is one finding (YAML-000/YAML-001, exit 2) and every other file is still checked. \
Helm chart templates (a `Chart.yaml` above `templates/`), makejinja templates (delimiters from the nearest `makejinja.toml`) and \
files with template syntax that are not YAML as written are skipped with a note (INPUT-001/002). A SOPS-encrypted document \
(top-level `sops:`) is checked for structure and references, not against the schema (INPUT-003). A duplicate key is finding \
YAML-002 (the file is still checked, with both entries kept). An alias used as a key (`*app:`) is read as go-yaml reads it.\n\
- Namespaces are resolved as the tools that apply the files do: the outermost kustomize `namespace:` over `resources:`/`components:` \
(Namespace objects are renamed to it), a Flux Kustomization's `targetNamespace` over everything built from its `path`, else \
`metadata.namespace`. A namespace nothing in the inputs sets (or a `${VAR}`) is unknown, never `default`: references are then \
matched by name (note INPUT-005). `--repo DIR` also reads every other manifest under DIR to resolve references and namespaces; \
findings are reported only for the given paths. Flux post-build variables (`${VAR}`, `${VAR:=default}`) are accepted in typed fields.\n\
- Versions: Cilium from the Cilium HelmRelease (chart version or its OCIRepository tag), a `helm install --version` line, \
`--cilium-version`, the cluster profile given, else the default profile; external-dns from its HelmRelease (chart 1.N is \
external-dns 0.N). Gateway API (GW-013/014/015) from what the inputs install (a CRD's `gateway.networking.k8s.io/bundle-version` \
and `channel` annotations, a bundle URL, a GitRepository/OCIRepository tag whose Flux Kustomization path names the channel; the \
newest when several, experimental when any is), else `--gateway-api-version`/`--gateway-api-channel`, the cluster profile, else \
the bundle the judged Cilium line requires with the channel unknown (kinds judged against experimental, GW-015 silent); that \
release's CRDs are read from the Go module cache (`sigs.k8s.io/gateway-api@<version>/config/crd/`; the newest cached patch of the \
line when the exact one is missing, note INPUT-006 when none is). Flux (FLUX-005/006/010) from a FluxInstance \
`spec.distribution.version` or a `flux-instance` HelmRelease's `instance.distribution.version` (`2.x` is the newest known line, 2.9), a `# Flux Version:` header, Flux's `app.kubernetes.io/version` \
labels, else `--flux-version`, the cluster profile, the default profile. Version-aware messages name the version and its source.\n\
- Chart values (CHART-001) are compared with the chart of the pinned version from the Go module cache \
(`harness/tools/charts/go.mod`, `.ci/fetch-charts`); when only another release of the same minor line is cached, that one is \
used and named; when none is, note INPUT-004.\n\
- Schema: core kinds are decoded into k8s-openapi types and re-serialized; any input key lost in the round trip is an unknown field \
(SCHEMA-001). The stack's CRDs (Cilium LB pools, BGP v2, network policies; Gateway API; cert-manager; Flux HelmRelease/HelmRepository/\
Kustomization; SealedSecret) use strict models that reject unknown fields. Where a specific rule explains the same position (LB-001 \
for `cidrs`), the specific finding replaces the generic one.\n";

pub fn render_human(report: &CheckReport) -> String {
    let mut s = String::new();
    for f in &report.findings {
        s.push_str(&f.to_string());
        s.push('\n');
    }
    s.push_str(&format!(
        "{} error(s), {} warning(s) in {} file(s), {} object(s) checked\n",
        report.count(Severity::Error),
        report.count(Severity::Warning),
        report.files.len(),
        report.objects_checked
    ));
    secret::redact(&s)
}

pub fn render_json(report: &CheckReport) -> String {
    let text = serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\":\"failed to render report: {e}\"}}"));
    secret::redact(&text)
}
