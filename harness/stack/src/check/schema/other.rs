//! Strict models of the Gateway API, cert-manager, Flux and SealedSecret
//! objects the stack uses. Rarely used or deeply nested parts are accepted
//! as-is (`IgnoredAny`) to avoid false positives on valid input.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::common::{NameRef, Object, Selector};

pub(crate) type GatewayClass = Object<GatewayClassSpec>;
pub(crate) type Gateway = Object<GatewaySpec>;
pub(crate) type HttpRoute = Object<HttpRouteSpec>;
pub(crate) type Certificate = Object<CertificateSpec>;
pub(crate) type Issuer = Object<IssuerSpec>;
pub(crate) type HelmRelease = Object<HelmReleaseSpec>;
pub(crate) type HelmRepository = Object<HelmRepositorySpec>;
pub(crate) type Kustomization = Object<KustomizationSpec>;
pub(crate) type SealedSecret = Object<SealedSecretSpec>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct GatewayClassSpec {
    controller_name: String,
    parameters_ref: Option<IgnoredAny>,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct GatewaySpec {
    gateway_class_name: String,
    listeners: Vec<Listener>,
    addresses: Option<Vec<GatewayAddress>>,
    infrastructure: Option<Infrastructure>,
    backend_tls: Option<IgnoredAny>,
    allowed_listeners: Option<IgnoredAny>,
    default_scope: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Listener {
    name: String,
    hostname: Option<String>,
    port: i64,
    protocol: String,
    tls: Option<ListenerTls>,
    allowed_routes: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListenerTls {
    mode: Option<String>,
    certificate_refs: Option<Vec<SecretObjectRef>>,
    options: Option<BTreeMap<String, String>>,
    frontend_validation: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SecretObjectRef {
    group: Option<String>,
    kind: Option<String>,
    name: String,
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GatewayAddress {
    #[serde(rename = "type")]
    kind: Option<String>,
    value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Infrastructure {
    labels: Option<BTreeMap<String, String>>,
    annotations: Option<BTreeMap<String, String>>,
    parameters_ref: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct HttpRouteSpec {
    parent_refs: Option<Vec<ParentRef>>,
    hostnames: Option<Vec<String>>,
    rules: Option<Vec<RouteRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ParentRef {
    group: Option<String>,
    kind: Option<String>,
    namespace: Option<String>,
    name: String,
    section_name: Option<String>,
    port: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RouteRule {
    name: Option<String>,
    matches: Option<IgnoredAny>,
    filters: Option<IgnoredAny>,
    backend_refs: Option<Vec<BackendRef>>,
    timeouts: Option<IgnoredAny>,
    retry: Option<IgnoredAny>,
    session_persistence: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BackendRef {
    group: Option<String>,
    kind: Option<String>,
    name: String,
    namespace: Option<String>,
    port: Option<i64>,
    weight: Option<i64>,
    filters: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CertificateSpec {
    secret_name: String,
    issuer_ref: IssuerRef,
    dns_names: Option<Vec<String>>,
    common_name: Option<String>,
    duration: Option<String>,
    renew_before: Option<String>,
    renew_before_percentage: Option<i64>,
    private_key: Option<IgnoredAny>,
    usages: Option<Vec<String>>,
    ip_addresses: Option<Vec<String>>,
    uris: Option<Vec<String>>,
    email_addresses: Option<Vec<String>>,
    subject: Option<IgnoredAny>,
    literal_subject: Option<String>,
    secret_template: Option<IgnoredAny>,
    #[serde(rename = "isCA")]
    is_ca: Option<bool>,
    keystores: Option<IgnoredAny>,
    revision_history_limit: Option<i64>,
    additional_output_formats: Option<IgnoredAny>,
    name_constraints: Option<IgnoredAny>,
    other_names: Option<IgnoredAny>,
    encode_usages_in_request: Option<bool>,
    signature_algorithm: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IssuerRef {
    name: String,
    kind: Option<String>,
    group: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct IssuerSpec {
    acme: Option<Acme>,
    ca: Option<IgnoredAny>,
    self_signed: Option<IgnoredAny>,
    vault: Option<IgnoredAny>,
    venafi: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Acme {
    server: String,
    email: Option<String>,
    private_key_secret_ref: IgnoredAny,
    solvers: Option<Vec<Solver>>,
    skip_tls_verify: Option<bool>,
    external_account_binding: Option<IgnoredAny>,
    preferred_chain: Option<String>,
    ca_bundle: Option<String>,
    disable_account_key_generation: Option<bool>,
    enable_duration_feature: Option<bool>,
    profile: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Solver {
    dns01: Option<Dns01>,
    http01: Option<IgnoredAny>,
    selector: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Dns01 {
    cloudflare: Option<Cloudflare>,
    cname_strategy: Option<String>,
    acme_dns: Option<IgnoredAny>,
    akamai: Option<IgnoredAny>,
    #[serde(rename = "azureDNS")]
    azure_dns: Option<IgnoredAny>,
    #[serde(rename = "cloudDNS")]
    cloud_dns: Option<IgnoredAny>,
    digitalocean: Option<IgnoredAny>,
    rfc2136: Option<IgnoredAny>,
    route53: Option<IgnoredAny>,
    webhook: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Cloudflare {
    email: Option<String>,
    api_token_secret_ref: Option<IgnoredAny>,
    api_key_secret_ref: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct HelmReleaseSpec {
    chart: Option<HelmChartTemplate>,
    chart_ref: Option<NameRef>,
    interval: String,
    kube_config: Option<IgnoredAny>,
    suspend: Option<bool>,
    release_name: Option<String>,
    target_namespace: Option<String>,
    storage_namespace: Option<String>,
    depends_on: Option<Vec<DependsOn>>,
    timeout: Option<String>,
    max_history: Option<i64>,
    service_account_name: Option<String>,
    persistent_client: Option<bool>,
    drift_detection: Option<IgnoredAny>,
    install: Option<IgnoredAny>,
    upgrade: Option<IgnoredAny>,
    test: Option<IgnoredAny>,
    rollback: Option<IgnoredAny>,
    uninstall: Option<IgnoredAny>,
    values_from: Option<Vec<ValuesReference>>,
    values: Option<IgnoredAny>,
    post_renderers: Option<IgnoredAny>,
    common_metadata: Option<IgnoredAny>,
    // helm-controller 1.6 (Flux 2.9).
    health_check_exprs: Option<IgnoredAny>,
    post_render_strategy: Option<IgnoredAny>,
    wait_strategy: Option<IgnoredAny>,
}

/// A Flux `dependsOn` entry; `readyExpr` is a CEL readiness check (Flux 2.8+).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DependsOn {
    name: String,
    namespace: Option<String>,
    ready_expr: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HelmChartTemplate {
    metadata: Option<IgnoredAny>,
    spec: HelmChartSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HelmChartSpec {
    chart: String,
    version: Option<String>,
    source_ref: NameRef,
    interval: Option<String>,
    reconcile_strategy: Option<String>,
    values_files: Option<Vec<String>>,
    ignore_missing_values_files: Option<bool>,
    verify: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ValuesReference {
    kind: String,
    name: String,
    values_key: Option<String>,
    target_path: Option<String>,
    optional: Option<bool>,
    literal: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct HelmRepositorySpec {
    url: String,
    interval: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    provider: Option<String>,
    secret_ref: Option<IgnoredAny>,
    cert_secret_ref: Option<IgnoredAny>,
    pass_credentials: Option<bool>,
    insecure: Option<bool>,
    timeout: Option<String>,
    suspend: Option<bool>,
    access_from: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct KustomizationSpec {
    path: Option<String>,
    interval: String,
    retry_interval: Option<String>,
    source_ref: NameRef,
    prune: bool,
    wait: Option<bool>,
    timeout: Option<String>,
    depends_on: Option<Vec<DependsOn>>,
    health_checks: Option<IgnoredAny>,
    health_check_exprs: Option<IgnoredAny>,
    target_namespace: Option<String>,
    post_build: Option<IgnoredAny>,
    patches: Option<IgnoredAny>,
    images: Option<IgnoredAny>,
    components: Option<Vec<String>>,
    decryption: Option<IgnoredAny>,
    force: Option<bool>,
    service_account_name: Option<String>,
    suspend: Option<bool>,
    kube_config: Option<IgnoredAny>,
    common_metadata: Option<IgnoredAny>,
    name_prefix: Option<String>,
    name_suffix: Option<String>,
    deletion_policy: Option<String>,
    // kustomize-controller 1.9 (Flux 2.9).
    build_metadata: Option<IgnoredAny>,
    ignore: Option<IgnoredAny>,
    ignore_missing_components: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SealedSecretSpec {
    encrypted_data: BTreeMap<String, String>,
    template: Option<IgnoredAny>,
    data: Option<IgnoredAny>,
}

#[allow(unused_imports)]
use Selector as _;
