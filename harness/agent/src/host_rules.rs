//! `host-rules`: the node's iptables rule set, for the kube-proxy check
//! (with Cilium's kube-proxy replacement no KUBE-SVC-/KUBE-SEP- chains may
//! exist). In a pod the host's `/` is mounted at `--host-root`; the agent
//! chroots there so the host's own iptables binaries and libraries run,
//! whatever the node's distribution ships.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

#[derive(Debug, Args)]
pub struct HostRulesArgs {
    /// Where the host's root file system is mounted; chroot(2) into it
    /// unless it is "/" (needs CAP_SYS_CHROOT).
    #[arg(long, default_value = "/", value_name = "DIR")]
    pub host_root: PathBuf,
    /// Bound on each *-save run.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
}

/// Backend-specific tools first: on a node both the legacy and the nft
/// backend may hold rules, and plain `iptables-save` shows only one.
const FAMILIES: [(&str, [&str; 2]); 2] = [
    (
        "iptables-save",
        ["iptables-legacy-save", "iptables-nft-save"],
    ),
    (
        "ip6tables-save",
        ["ip6tables-legacy-save", "ip6tables-nft-save"],
    ),
];

/// Where distributions install the *-save tools.
const BIN_DIRS: [&str; 6] = [
    "/usr/sbin",
    "/sbin",
    "/usr/bin",
    "/bin",
    "/usr/local/sbin",
    "/usr/local/bin",
];

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TableRules {
    /// Chains in the order the table declares them.
    pub chains: Vec<String>,
    /// `-A` lines in the table.
    pub rules: u64,
    #[serde(skip)]
    per_chain: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
pub struct ToolReport {
    pub tool: String,
    pub ok: bool,
    pub error: Option<String>,
    pub tables: BTreeMap<String, TableRules>,
}

#[derive(Debug, Serialize)]
pub struct HostRulesReport {
    pub mode: &'static str,
    pub ok: bool,
    pub error: Option<String>,
    pub host_root: String,
    pub tools: Vec<ToolReport>,
    /// Every chain named KUBE-*, unique and sorted, over all tools.
    pub kube_chains: Vec<String>,
    /// How many of those are KUBE-SVC-* or KUBE-SEP-* (kube-proxy's per-service chains).
    pub kube_svc_chains: u64,
    /// Rules appended to KUBE-SERVICES or KUBE-NODEPORTS, over all tools and tables.
    pub kube_service_rules: u64,
}

/// Parses `iptables-save` output: `*table`, `:CHAIN POLICY [p:b]`,
/// `-A CHAIN …`, `COMMIT`, and `#` comments.
pub fn parse(text: &str) -> Result<BTreeMap<String, TableRules>, String> {
    let mut tables: BTreeMap<String, TableRules> = BTreeMap::new();
    let mut current: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let n = i + 1;
        if line.is_empty() || line.starts_with('#') || line == "COMMIT" {
            if line == "COMMIT" {
                current = None;
            }
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            if name.is_empty() {
                return Err(format!("line {n}: table line without a name"));
            }
            tables.entry(name.to_string()).or_default();
            current = Some(name.to_string());
            continue;
        }
        let table = current
            .as_ref()
            .and_then(|t| tables.get_mut(t))
            .ok_or_else(|| format!("line {n}: {line:?} outside a table"))?;
        if let Some(decl) = line.strip_prefix(':') {
            let chain = decl
                .split_whitespace()
                .next()
                .ok_or_else(|| format!("line {n}: chain line without a name"))?;
            if !table.chains.iter().any(|c| c == chain) {
                table.chains.push(chain.to_string());
            }
        } else if let Some(rule) = line.strip_prefix("-A ") {
            let chain = rule
                .split_whitespace()
                .next()
                .ok_or_else(|| format!("line {n}: rule without a chain"))?;
            if !table.chains.iter().any(|c| c == chain) {
                table.chains.push(chain.to_string());
            }
            table.rules += 1;
            *table.per_chain.entry(chain.to_string()).or_default() += 1;
        } else {
            return Err(format!("line {n}: unexpected {line:?}"));
        }
    }
    Ok(tables)
}

/// The tools to run, by name: backend variants where any exists, else the
/// plain tool of that family.
fn find_tools(exists: impl Fn(&str) -> Option<PathBuf>) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    for (plain, variants) in FAMILIES {
        let present: Vec<_> = variants
            .iter()
            .filter_map(|v| exists(v).map(|p| (v.to_string(), p)))
            .collect();
        if present.is_empty() {
            if let Some(p) = exists(plain) {
                found.push((plain.to_string(), p));
            }
        } else {
            found.extend(present);
        }
    }
    found
}

fn locate(name: &str) -> Option<PathBuf> {
    BIN_DIRS
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

/// Runs one tool to completion within `timeout`; stdout on success.
fn run_tool(path: &Path, timeout: Duration) -> Result<String, String> {
    let mut child = Command::new(path)
        .env("PATH", BIN_DIRS.join(":"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("failed to run {}: {e}", path.display()))?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    // Both pipes drain on their own threads so a chatty tool cannot block
    // on a full pipe while we wait for it.
    let out = thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = stdout.as_mut() {
            let _ = o.read_to_string(&mut s);
        }
        s
    });
    let err = thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} did not finish within {} ms",
                    path.display(),
                    timeout.as_millis()
                ));
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("failed to wait for {}: {e}", path.display())),
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{} failed ({status}): {}",
            path.display(),
            stderr.trim()
        ))
    }
}

pub fn run(args: &HostRulesArgs) -> HostRulesReport {
    let mut report = HostRulesReport {
        mode: "host-rules",
        ok: false,
        error: None,
        host_root: args.host_root.display().to_string(),
        tools: Vec::new(),
        kube_chains: Vec::new(),
        kube_svc_chains: 0,
        kube_service_rules: 0,
    };
    if args.host_root != Path::new("/") {
        let entered = nix::unistd::chroot(&args.host_root).and_then(|()| nix::unistd::chdir("/"));
        if let Err(e) = entered {
            report.error = Some(format!(
                "failed to chroot into {}: {e} (the pod needs CAP_SYS_CHROOT and the host's / mounted there)",
                args.host_root.display()
            ));
            return report;
        }
    }
    let tools = find_tools(locate);
    if tools.is_empty() {
        report.error = Some(format!(
            "no iptables-save tool found in {} under {}",
            BIN_DIRS.join(", "),
            args.host_root.display()
        ));
        return report;
    }
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    for (name, path) in tools {
        let result = run_tool(&path, timeout).and_then(|out| parse(&out));
        report.tools.push(match result {
            Ok(tables) => ToolReport {
                tool: name,
                ok: true,
                error: None,
                tables,
            },
            Err(e) => ToolReport {
                tool: name,
                ok: false,
                error: Some(e),
                tables: BTreeMap::new(),
            },
        });
    }
    summarize(&mut report);
    report
}

fn summarize(report: &mut HostRulesReport) {
    let mut kube = BTreeSet::new();
    let mut service_rules = 0;
    for table in report.tools.iter().flat_map(|t| t.tables.values()) {
        kube.extend(
            table
                .chains
                .iter()
                .filter(|c| c.starts_with("KUBE-"))
                .cloned(),
        );
        service_rules += ["KUBE-SERVICES", "KUBE-NODEPORTS"]
            .iter()
            .filter_map(|c| table.per_chain.get(*c))
            .sum::<u64>();
    }
    report.kube_svc_chains = kube
        .iter()
        .filter(|c| c.starts_with("KUBE-SVC-") || c.starts_with("KUBE-SEP-"))
        .count() as u64;
    report.kube_service_rules = service_rules;
    report.kube_chains = kube.into_iter().collect();
    report.ok = report.tools.iter().any(|t| t.ok);
    if !report.ok {
        report.error = report.tools.iter().find_map(|t| t.error.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = "\
# Generated by iptables-nft-save v1.8.9 (nf_tables) on Tue Nov 24 06:31:50 2026
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [12:720]
:OUTPUT ACCEPT [0:0]
:KUBE-FIREWALL - [0:0]
-A INPUT -j KUBE-FIREWALL
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-SVC-ERIFXISQEP7F7OF4 - [0:0]
:KUBE-SEP-IT2ZTR26TO4XFPTO - [0:0]
-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.43.0.10/32 -p udp -m udp --dport 53 -j KUBE-SVC-ERIFXISQEP7F7OF4
-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-NODEPORTS -p tcp --dport 30080 -j KUBE-SVC-ERIFXISQEP7F7OF4
-A KUBE-SVC-ERIFXISQEP7F7OF4 -j KUBE-SEP-IT2ZTR26TO4XFPTO
-A KUBE-SEP-IT2ZTR26TO4XFPTO -p udp -j DNAT --to-destination 10.42.0.5:53
COMMIT
# Completed on Tue Nov 24 06:31:50 2026
";

    #[test]
    fn parses_tables_chains_and_rules() {
        let t = parse(FIXTURE).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(
            t["filter"].chains,
            ["INPUT", "FORWARD", "OUTPUT", "KUBE-FIREWALL"]
        );
        assert_eq!(t["filter"].rules, 1);
        assert_eq!(t["nat"].rules, 6);
        assert_eq!(t["nat"].per_chain["KUBE-SERVICES"], 2);
    }

    #[test]
    fn summary_counts_kube_chains_and_service_rules() {
        let tables = parse(FIXTURE).unwrap();
        let mut r = HostRulesReport {
            mode: "host-rules",
            ok: false,
            error: None,
            host_root: "/".into(),
            tools: vec![
                ToolReport {
                    tool: "iptables-nft-save".into(),
                    ok: true,
                    error: None,
                    tables,
                },
                ToolReport {
                    tool: "iptables-legacy-save".into(),
                    ok: false,
                    error: Some("boom".into()),
                    tables: BTreeMap::new(),
                },
            ],
            kube_chains: Vec::new(),
            kube_svc_chains: 0,
            kube_service_rules: 0,
        };
        summarize(&mut r);
        assert!(r.ok);
        assert_eq!(r.error, None);
        assert_eq!(
            r.kube_chains,
            [
                "KUBE-FIREWALL",
                "KUBE-NODEPORTS",
                "KUBE-SEP-IT2ZTR26TO4XFPTO",
                "KUBE-SERVICES",
                "KUBE-SVC-ERIFXISQEP7F7OF4"
            ]
        );
        assert_eq!(r.kube_svc_chains, 2);
        assert_eq!(r.kube_service_rules, 3);
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["tools"][0]["tables"]["nat"].get("per_chain").is_none());
        assert_eq!(json["tools"][0]["tables"]["nat"]["rules"], 6);
    }

    #[test]
    fn all_tools_failing_is_not_ok() {
        let mut r = HostRulesReport {
            mode: "host-rules",
            ok: false,
            error: None,
            host_root: "/".into(),
            tools: vec![ToolReport {
                tool: "iptables-nft-save".into(),
                ok: false,
                error: Some("failed: no nf_tables".into()),
                tables: BTreeMap::new(),
            }],
            kube_chains: Vec::new(),
            kube_svc_chains: 0,
            kube_service_rules: 0,
        };
        summarize(&mut r);
        assert!(!r.ok);
        assert_eq!(r.error.as_deref(), Some("failed: no nf_tables"));
    }

    #[test]
    fn rejects_rules_outside_a_table_and_garbage() {
        assert!(
            parse("-A INPUT -j ACCEPT\n")
                .unwrap_err()
                .contains("line 1")
        );
        assert!(parse("*nat\nbogus\n").unwrap_err().contains("line 2"));
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn variants_win_over_the_plain_tool() {
        let have = |names: &'static [&'static str]| {
            move |n: &str| names.contains(&n).then(|| PathBuf::from(format!("/x/{n}")))
        };
        let names = |v: Vec<(String, PathBuf)>| v.into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert_eq!(
            names(find_tools(have(&[
                "iptables-save",
                "iptables-nft-save",
                "ip6tables-save",
                "ip6tables-legacy-save",
                "ip6tables-nft-save"
            ]))),
            [
                "iptables-nft-save",
                "ip6tables-legacy-save",
                "ip6tables-nft-save"
            ]
        );
        assert_eq!(
            names(find_tools(have(&["iptables-save", "ip6tables-save"]))),
            ["iptables-save", "ip6tables-save"]
        );
        assert!(find_tools(have(&[])).is_empty());
    }
}
