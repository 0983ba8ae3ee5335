//! The host's state as `down` must leave it: recorded before `up`, compared
//! after `down`, and the part that can be put back (sysctls, paths `up`
//! created) restored.
//!
//! What is recorded is what a node can change: links and addresses, routes
//! and rules of every table, the iptables rulesets (both backends) and the
//! nftables ruleset, mount points, BPF pins, network namespaces, cgroups the
//! kubelet makes, the sysctls that the kubelet and Cilium write, and the host
//! paths they create. Volatile fields (counters, link statistics, mount ids)
//! are left out so that two snapshots of an untouched host are equal.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

/// Sysctls written by the kubelet (`protectKernelDefaults: false`) and by
/// Cilium's agent and init containers. Per-interface `conf/<dev>` entries of
/// links that `down` deletes vanish with the link; those of host links stay.
pub const WATCHED_SYSCTLS: &[&str] = &[
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/forwarding",
    "net/ipv4/conf/all/rp_filter",
    "net/ipv4/conf/default/rp_filter",
    "net/ipv4/conf/all/accept_local",
    "net/ipv4/conf/all/send_redirects",
    "net/ipv4/conf/default/forwarding",
    "net/ipv4/ip_local_reserved_ports",
    "net/ipv4/fib_multipath_use_neigh",
    "net/ipv6/conf/all/forwarding",
    "net/ipv6/conf/all/disable_ipv6",
    "net/core/bpf_jit_enable",
    "net/core/default_qdisc",
    "net/bridge/bridge-nf-call-iptables",
    "net/netfilter/nf_conntrack_max",
    "kernel/unprivileged_bpf_disabled",
    "kernel/timer_migration",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "fs/inotify/max_user_instances",
    "fs/inotify/max_user_watches",
];

/// Host paths a node creates outside its state directory. `up` records which
/// exist; `down` removes those that did not.
pub const WATCHED_PATHS: &[&str] = &[
    "/var/run/cilium",
    "/run/cilium",
    "/run/containerd",
    "/var/log/containers",
    "/var/log/pods",
    "/var/lib/kubelet",
    "/var/lib/cni",
    "/etc/cni",
    "/opt/cni",
    "/etc/sysctl.d/99-zzz-override_cilium.conf",
    "/run/xtables.lock",
    "/sys/fs/bpf/cilium",
    "/sys/fs/bpf/tc",
    "/run/netns",
];

/// One snapshot. Compared field by field; every field is text so that a
/// difference can be shown as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostState {
    pub links: Vec<String>,
    pub addresses: Vec<String>,
    pub routes: Vec<String>,
    pub rules: Vec<String>,
    pub iptables: BTreeMap<String, Vec<String>>,
    pub nftables: Vec<String>,
    pub mounts: Vec<String>,
    pub netns: Vec<String>,
    pub bpf_pins: Vec<String>,
    pub cgroups: Vec<String>,
    pub sysctls: BTreeMap<String, String>,
    pub paths: BTreeMap<String, bool>,
}

fn lines(program: &str, args: &[&str]) -> Vec<String> {
    match Command::new(program).args(args).output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).lines().map(str::to_owned).collect(),
        Ok(o) => vec![format!("<{program} {} failed: {}>", args.join(" "), String::from_utf8_lossy(&o.stderr).trim())],
        Err(e) => vec![format!("<{program} not run: {e}>")],
    }
}

/// `ip -o link` without the parts that change by themselves (qdisc queue
/// lengths stay, counters are not printed without `-s`).
fn links() -> Vec<String> {
    let mut v: Vec<String> = lines("ip", &["-o", "link", "show"])
        .into_iter()
        .map(|l| {
            // Drop the ifindex prefix: recreating an identical link is not a change.
            l.split_once(": ").map(|(_, rest)| rest.to_owned()).unwrap_or(l)
        })
        .collect();
    v.sort();
    v
}

fn iptables_rules(program: &str) -> Vec<String> {
    lines(program, &[])
        .into_iter()
        // Counters and the generation comment change on their own.
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            if l.starts_with(':') {
                l.split(" [").next().unwrap_or(&l).to_owned()
            } else {
                l
            }
        })
        .collect()
}

fn mounts() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-")?;
            // Propagation (the optional `shared:N`/`master:N` fields, minus
            // the peer-group numbers) is state too: the provider must not
            // leave a host mount shared.
            let propagation: Vec<&str> = f.get(6..sep)?.iter().map(|o| o.split(':').next().unwrap_or(o)).collect();
            Some(format!("{} {} {} [{}]", f.get(4)?, f.get(sep + 1)?, f.get(sep + 2)?, propagation.join(",")))
        })
        .collect();
    v.sort();
    v
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<String>) {
    if depth == 0 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut names: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    names.sort();
    for p in names {
        out.push(p.display().to_string());
        if p.is_dir() && !p.is_symlink() {
            walk(&p, depth - 1, out);
        }
    }
}

/// Cgroup directories a node makes (kubelet's `kubepods`, Cilium's), in every
/// hierarchy; other cgroups belong to the host and change on their own.
fn cgroups() -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") else { return out };
    for h in rd.flatten() {
        for name in ["kubepods", "kubepods.slice", "system.slice/containerd.service", "infraflux"] {
            let p = h.path().join(name);
            if p.exists() {
                out.push(p.display().to_string());
            }
        }
    }
    out.sort();
    out
}

fn sysctl_path(key: &str) -> std::path::PathBuf {
    Path::new("/proc/sys").join(key)
}

impl HostState {
    pub fn capture() -> HostState {
        let mut iptables = BTreeMap::new();
        for program in ["iptables-nft-save", "iptables-legacy-save", "ip6tables-nft-save", "ip6tables-legacy-save"] {
            if which(program).is_some() {
                iptables.insert(program.to_owned(), iptables_rules(program));
            }
        }
        let mut routes = lines("ip", &["-4", "route", "show", "table", "all"]);
        routes.extend(lines("ip", &["-6", "route", "show", "table", "all"]));
        routes.sort();
        let mut bpf_pins = Vec::new();
        walk(Path::new("/sys/fs/bpf"), 4, &mut bpf_pins);
        let sysctls = WATCHED_SYSCTLS
            .iter()
            .filter_map(|k| std::fs::read_to_string(sysctl_path(k)).ok().map(|v| ((*k).to_owned(), v.trim().to_owned())))
            .collect();
        let paths = WATCHED_PATHS.iter().map(|p| ((*p).to_owned(), Path::new(p).exists() || Path::new(p).is_symlink())).collect();
        let mut addresses = lines("ip", &["-o", "addr", "show"]);
        // Lifetimes count down; they are not state.
        for a in &mut addresses {
            if let Some(i) = a.find("valid_lft") {
                a.truncate(i);
            }
        }
        addresses.sort();
        let mut netns = lines("ip", &["netns", "list"]);
        netns.sort();
        HostState {
            links: links(),
            addresses,
            routes,
            rules: lines("ip", &["rule", "show"]),
            iptables,
            // Stateless: rule counters (`counter packets N bytes M`) and quota
            // usage change with traffic, they are not state.
            nftables: if which("nft").is_some() { lines("nft", &["--stateless", "list", "ruleset"]) } else { Vec::new() },
            mounts: mounts(),
            netns,
            bpf_pins,
            cgroups: cgroups(),
            sysctls,
            paths,
        }
    }

    /// Every difference, one line each (`-` before, `+` after).
    pub fn diff(&self, after: &HostState) -> Vec<String> {
        let mut out = Vec::new();
        let mut list = |what: &str, a: &[String], b: &[String]| {
            for x in a.iter().filter(|x| !b.contains(x)) {
                out.push(format!("{what}: - {x}"));
            }
            for x in b.iter().filter(|x| !a.contains(x)) {
                out.push(format!("{what}: + {x}"));
            }
        };
        list("link", &self.links, &after.links);
        list("address", &self.addresses, &after.addresses);
        list("route", &self.routes, &after.routes);
        list("rule", &self.rules, &after.rules);
        for (k, v) in &self.iptables {
            list(k, v, after.iptables.get(k).map(Vec::as_slice).unwrap_or(&[]));
        }
        list("nft", &self.nftables, &after.nftables);
        list("mount", &self.mounts, &after.mounts);
        list("netns", &self.netns, &after.netns);
        list("bpf pin", &self.bpf_pins, &after.bpf_pins);
        list("cgroup", &self.cgroups, &after.cgroups);
        for (k, v) in &self.sysctls {
            if after.sysctls.get(k) != Some(v) {
                out.push(format!("sysctl {k}: {v} -> {}", after.sysctls.get(k).map_or("<absent>", String::as_str)));
            }
        }
        for (k, v) in &self.paths {
            if after.paths.get(k) != Some(v) {
                out.push(format!("path {k}: existed {v} -> {}", after.paths.get(k).copied().unwrap_or(false)));
            }
        }
        out
    }

    /// Writes back every watched sysctl that differs from this snapshot.
    /// Returns what it changed and what it could not.
    pub fn restore_sysctls(&self) -> (Vec<String>, Vec<String>) {
        let (mut done, mut failed) = (Vec::new(), Vec::new());
        for (k, v) in &self.sysctls {
            let path = sysctl_path(k);
            let now = std::fs::read_to_string(&path).map(|s| s.trim().to_owned()).unwrap_or_default();
            if &now != v {
                match std::fs::write(&path, v) {
                    Ok(()) => done.push(format!("{k}: {now} -> {v}")),
                    Err(e) => failed.push(format!("{k}: {e}")),
                }
            }
        }
        (done, failed)
    }

    /// Removes watched paths that did not exist when this snapshot was taken
    /// (bpffs pins included). Mounted paths are left to the unmount step.
    pub fn remove_created_paths(&self) -> Vec<String> {
        let mut removed = Vec::new();
        for (p, existed) in &self.paths {
            let path = Path::new(p);
            if *existed || !(path.exists() || path.is_symlink()) {
                continue;
            }
            let r = if path.is_dir() && !path.is_symlink() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
            match r {
                Ok(()) => removed.push(p.clone()),
                Err(e) => removed.push(format!("{p}: not removed: {e}")),
            }
        }
        removed
    }
}

/// `program` on `PATH`, as a shell would find it.
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(program)).find(|p| p.is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_untouched_host_reads_the_same_twice() {
        let a = HostState::capture();
        let b = HostState::capture();
        assert!(a.diff(&b).is_empty(), "{:#?}", a.diff(&b));
        assert!(!a.mounts.is_empty());
    }

    #[test]
    fn differences_are_named_one_per_line() {
        let a = HostState::capture();
        let mut b = a.clone();
        b.links.push("ifx0@if2: <BROADCAST> mtu 1500".into());
        b.sysctls.insert("net/ipv4/ip_forward".into(), "changed".into());
        let d = a.diff(&b);
        assert!(d.iter().any(|l| l.starts_with("link: + ifx0")), "{d:?}");
        assert!(d.iter().any(|l| l.starts_with("sysctl net/ipv4/ip_forward")), "{d:?}");
    }
}
