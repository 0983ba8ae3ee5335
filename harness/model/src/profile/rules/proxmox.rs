//! The `proxmoxRke2` provider section: how the API certificate is checked
//! (PROF-039), the kube-vip static pod (PROF-040), and what provisioning
//! needs beyond a valid profile (PROF-041, [`provisioning`] only: a
//! profile used to `check`, `render` or run against an existing cluster
//! need not say how to log into VMs).

use super::Cx;
use crate::profile::model::{ApiVip, Profile, Provider, ProxmoxRke2Provider};

const PX: &str = "provider.proxmoxRke2.proxmox";

pub(super) fn proxmox(cx: &mut Cx, p: &Profile) {
    let Provider::ProxmoxRke2(px) = &p.provider else { return };
    let m = &px.proxmox;
    if m.insecure_skip_tls_verify {
        cx.push(
            "PROF-039",
            &format!("{PX}.insecureSkipTlsVerify"),
            "`insecureSkipTlsVerify: true`: the API token would be sent to whoever answers; verification is never skipped",
        );
    }
    if m.ca_file.is_some() && m.fingerprint.is_some() {
        cx.push("PROF-039", &format!("{PX}.fingerprint"), "both `caFile` and `fingerprint` are set; the provider trusts exactly one of them");
    }
    if let Some(fp) = &m.fingerprint
        && fingerprint_problem(fp).is_some()
    {
        cx.push("PROF-039", &format!("{PX}.fingerprint"), format!("`{fp}` is not a SHA-256 fingerprint (32 hex pairs, colons optional)"));
    }
    if let ApiVip::KubeVip(kv) = &px.rke2.api_vip {
        let at = "provider.proxmoxRke2.rke2.apiVip.kubeVip";
        if let Some(why) = interface_problem(&kv.interface) {
            cx.push("PROF-040", &format!("{at}.interface"), format!("interface `{}` {why}", kv.interface));
        }
        match (&kv.version, &kv.digest) {
            (Some(_), None) => cx.push("PROF-040", &format!("{at}.version"), "`version` without `digest`: the image is pinned by both"),
            (None, Some(_)) => cx.push("PROF-040", &format!("{at}.digest"), "`digest` without `version`: the image is pinned by both"),
            (Some(v), Some(d)) => {
                if !is_release(v) {
                    cx.push("PROF-040", &format!("{at}.version"), format!("`{v}` is not a kube-vip release tag like v1.0.2"));
                }
                if !is_sha256(d) {
                    cx.push("PROF-040", &format!("{at}.digest"), format!("`{d}` is not `sha256:` followed by 64 lower-case hex digits"));
                }
            }
            (None, None) => {}
        }
    }
}

/// What `up --provider proxmox-rke2` needs beyond [`proxmox`]: a way to
/// verify the API certificate and an SSH identity for the VMs. Findings
/// located in the profile like every PROF rule; the CLI reports them (exit
/// 2) before anything is called.
pub(super) fn provisioning(cx: &mut Cx, p: &Profile, creating: bool) {
    let Provider::ProxmoxRke2(px) = &p.provider else {
        return;
    };
    missing(cx, px, creating);
}

fn missing(cx: &mut Cx, px: &ProxmoxRke2Provider, creating: bool) {
    let m = &px.proxmox;
    if m.ca_file.is_none() && m.fingerprint.is_none() && !m.insecure_skip_tls_verify {
        cx.push(
            "PROF-041",
            PX,
            "neither `caFile` nor `fingerprint`: the API certificate cannot be verified, so nothing is sent to the API",
        );
    }
    if creating && m.ssh.is_none() {
        cx.push("PROF-041", PX, "no `ssh` section: the provider cannot log into the VMs it creates");
    }
}

/// Why `text` is not a SHA-256 fingerprint, if it is not.
pub fn fingerprint_problem(text: &str) -> Option<&'static str> {
    let hex: String = text.chars().filter(|c| *c != ':').collect();
    (hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit())).then_some("is not 32 hex pairs")
}

/// Linux interface names: 1-15 bytes, no `/`, whitespace or `:`.
fn interface_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.len() > 15 {
        return Some("is not a Linux interface name (1-15 characters)");
    }
    if name == "." || name == ".." || name.chars().any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control()) {
        return Some("is not a Linux interface name (no `/`, `:` or spaces)");
    }
    None
}

fn is_release(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else { return false };
    let core = rest.split_once('-').map_or(rest, |(c, _)| c);
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn is_sha256(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_pins() {
        assert!(fingerprint_problem(&"AB:".repeat(31).chars().chain("CD".chars()).collect::<String>()).is_none());
        assert!(fingerprint_problem("AB:CD").is_some());
        assert!(fingerprint_problem(&"zz".repeat(32)).is_some());
        for ok in ["eth0", "ens18", "vmbr0.30", "enp0s31f6"] {
            assert_eq!(interface_problem(ok), None, "{ok}");
        }
        for bad in ["", "eth 0", "a/b", "eth0:1", "averyveryverylongname"] {
            assert!(interface_problem(bad).is_some(), "{bad}");
        }
        assert!(is_release("v1.0.2") && is_release("v0.9.0-rc1") && !is_release("1.0.2") && !is_release("v1.0"));
        assert!(is_sha256(crate::profile::model::KUBE_VIP_DEFAULT_DIGEST));
        assert!(!is_sha256("sha256:ABC") && !is_sha256(&format!("sha512:{}", "a".repeat(64))));
    }
}
