//! Feature detection: what the target cluster actually runs, read from the
//! cluster itself (cilium-config keys, served CRDs, nodes, the agent
//! DaemonSet image), never from the profile. Each missing feature carries the
//! reason that becomes the case's skip message.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Node};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams};

use crate::cluster::{Cluster, Error, Result};
use crate::suite::Feature;

/// What was detected.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detected {
    /// `Ok(())` when present, `Err(why not)` when missing.
    pub features: BTreeMap<Feature, Result<(), String>>,
    pub kubernetes_version: Option<String>,
    pub cilium_version: Option<String>,
    pub node_count: Option<u32>,
}

/// Why a detected feature counts as present, for `requires no <f>` skips.
pub(crate) fn presence_reason(f: Feature) -> String {
    if let Some((key, value)) = f.config_flag() {
        return format!("cilium-config has {key}={value:?}");
    }
    if let Some((_, crd)) = CRDS.iter().find(|(x, _)| *x == f) {
        return format!("CRD {crd} is installed");
    }
    match f {
        Feature::MultiNode => "the cluster has at least 2 nodes".into(),
        Feature::ExternalDns => format!("a Deployment labelled {EXTERNAL_DNS_SELECTOR} exists"),
        _ => "detected".into(),
    }
}

/// Features read from cilium-config, with the key and value that mean
/// "on" ([`Feature::config_flag`], shared with the suite loader's lint
/// against assertions that restate a requirement).
fn config_flags() -> impl Iterator<Item = (Feature, &'static str, &'static str)> {
    Feature::ALL.into_iter().filter_map(|f| f.config_flag().map(|(k, v)| (f, k, v)))
}

const CRDS: [(Feature, &str); 3] = [
    (Feature::LbIpam, "ciliumloadbalancerippools.cilium.io"),
    (Feature::CertManager, "certificates.cert-manager.io"),
    (Feature::Flux, "kustomizations.kustomize.toolkit.fluxcd.io"),
];

/// How the external-dns chart labels its Deployment.
const EXTERNAL_DNS_SELECTOR: &str = "app.kubernetes.io/name=external-dns";

const GATEWAY_CRD: &str = "gateways.gateway.networking.k8s.io";

/// Reads the cluster. `cilium_namespace` is where cilium-config and the
/// `cilium` DaemonSet live (kube-system by default). `agent_image` is the
/// probe agent image the run was given, if any.
pub async fn detect(cluster: &Cluster, cilium_namespace: &str, agent_image: Option<&str>) -> Result<Detected> {
    let client = cluster.client().clone();
    let mut d = Detected::default();
    let version = client
        .apiserver_version()
        .await
        .map_err(|e| Error::from_kube("read the API server version", e))?;
    d.kubernetes_version = Some(version.git_version);

    let nodes: Api<Node> = Api::all(client.clone());
    let n = nodes
        .list_metadata(&ListParams::default())
        .await
        .map_err(|e| Error::from_kube("list nodes", e))?
        .items
        .len() as u32;
    d.node_count = Some(n);
    d.features.insert(
        Feature::MultiNode,
        if n >= 2 { Ok(()) } else { Err(format!("the cluster has {n} node(s), needs at least 2")) },
    );

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), cilium_namespace);
    let config = cms
        .get_opt("cilium-config")
        .await
        .map_err(|e| Error::from_kube(format!("read {cilium_namespace}/cilium-config"), e))?;
    let data: Option<BTreeMap<String, String>> = config.map(|c| c.data.unwrap_or_default());
    match &data {
        None => {
            let why = format!("ConfigMap {cilium_namespace}/cilium-config not found (Cilium not installed)");
            d.features.insert(Feature::Cilium, Err(why.clone()));
            for (f, _, _) in config_flags() {
                d.features.insert(f, Err(why.clone()));
            }
        }
        Some(data) => {
            d.features.insert(Feature::Cilium, Ok(()));
            for (f, key, on) in config_flags() {
                let status = match data.get(key).map(String::as_str) {
                    Some(v) if v == on => Ok(()),
                    Some(v) => Err(format!("cilium-config has {key}={v:?}")),
                    None => Err(format!("cilium-config has no {key}")),
                };
                d.features.insert(f, status);
            }
        }
    }

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (f, name) in CRDS {
        let present = crds
            .get_metadata_opt(name)
            .await
            .map_err(|e| Error::from_kube(format!("read CRD {name}"), e))?
            .is_some();
        d.features.insert(f, if present { Ok(()) } else { Err(format!("CRD {name} is not installed")) });
    }
    let gw_crd = crds
        .get_metadata_opt(GATEWAY_CRD)
        .await
        .map_err(|e| Error::from_kube(format!("read CRD {GATEWAY_CRD}"), e))?
        .is_some();
    let gw_flag = data.as_ref().and_then(|m| m.get("enable-gateway-api")).map(String::as_str);
    d.features.insert(
        Feature::GatewayApi,
        match (gw_crd, gw_flag) {
            (true, Some("true")) => Ok(()),
            (false, _) => Err(format!("CRD {GATEWAY_CRD} is not installed")),
            (true, Some(v)) => Err(format!("cilium-config has enable-gateway-api={v:?}")),
            (true, None) => Err("cilium-config has no enable-gateway-api".into()),
        },
    );

    let dss: Api<DaemonSet> = Api::namespaced(client.clone(), cilium_namespace);
    if let Some(ds) = dss
        .get_opt("cilium")
        .await
        .map_err(|e| Error::from_kube(format!("read DaemonSet {cilium_namespace}/cilium"), e))?
    {
        d.cilium_version = ds
            .spec
            .and_then(|s| s.template.spec)
            .and_then(|p| p.containers.into_iter().find(|c| c.name == "cilium-agent"))
            .and_then(|c| c.image)
            .and_then(|img| image_tag(&img));
    }

    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> = Api::all(client.clone());
    let external_dns = deployments
        .list_metadata(&ListParams::default().labels(EXTERNAL_DNS_SELECTOR).limit(1))
        .await
        .map_err(|e| Error::from_kube("list external-dns Deployments", e))?
        .items
        .len();
    d.features.insert(
        Feature::ExternalDns,
        if external_dns > 0 { Ok(()) } else { Err(format!("no Deployment labelled {EXTERNAL_DNS_SELECTOR} in any namespace")) },
    );

    d.features.insert(
        Feature::ProbeAgent,
        match agent_image {
            Some(img) if !img.trim().is_empty() => Ok(()),
            _ => Err("the run has no probe agent image".into()),
        },
    );
    Ok(d)
}

/// Records whether the run can reach the DNS provider's API: like the probe
/// agent, this is what the harness itself was given (a zone, its API and a
/// token), not something the cluster shows.
pub fn set_dns_api(d: &mut Detected, settings: Option<&crate::steps::dns::DnsSettings>) {
    d.features.insert(
        Feature::DnsApi,
        match settings {
            Some(_) => Ok(()),
            None => Err("the run has no DNS provider API (zone, API, token)".into()),
        },
    );
}

/// Records whether the run's own BGP router is listening: `Err(why)` when
/// the run has no BGP settings or binding failed.
pub fn set_bgp_peer(d: &mut Detected, status: Result<(), String>) {
    d.features.insert(Feature::BgpPeer, status);
}

/// `quay.io/cilium/cilium:v1.18.2@sha256:…` → `v1.18.2`.
pub fn image_tag(image: &str) -> Option<String> {
    let no_digest = image.split('@').next()?;
    let last = no_digest.rsplit('/').next()?;
    last.split_once(':').map(|(_, tag)| tag.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_from_images() {
        assert_eq!(image_tag("quay.io/cilium/cilium:v1.18.2@sha256:abc").as_deref(), Some("v1.18.2"));
        assert_eq!(image_tag("localhost:5000/cilium:v1.18.0").as_deref(), Some("v1.18.0"));
        assert_eq!(image_tag("localhost:5000/cilium").as_deref(), None);
    }
}
