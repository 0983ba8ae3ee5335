//! The node's lifecycle: [`up`] brings the host processes up in dependency
//! order, each with a bounded readiness wait; [`down`] takes them and every
//! trace they leave on the host away again, then compares the host with the
//! record `up` made first.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::host::HostState;
use super::net::{self, *};
use super::oci::{self, ImageSpec, Layer};
use super::pki::{self, NODE_NAME};
use super::procs::{self, Procs, wait_for};
use super::{Artifacts, HOST_PROGRAMS, Local, LocalError};

const HOST_BEFORE: &str = "host-before.json";
/// Cilium's run directory on the host (`/var/run/cilium` resolves here).
pub const CILIUM_RUN: &str = "/run/cilium";
/// This hybrid host's cgroup2 mount (controllers stay on v1).
pub const CGROUP2_HOST: &str = "/sys/fs/cgroup/unified";

pub(crate) fn say(msg: &str) {
    eprintln!("local: {msg}");
}

fn write(path: &Path, text: &str) -> Result<(), LocalError> {
    if let Some(d) = path.parent() {
        fs::create_dir_all(d).map_err(|e| procs::io(d, e))?;
    }
    fs::write(path, text).map_err(|e| procs::io(path, e))
}

fn s(x: impl std::fmt::Display) -> String {
    x.to_string()
}

impl Local {
    fn procs(&self) -> Procs {
        Procs::new(&self.state)
    }

    fn kubectl(&self, a: &Artifacts, args: &[&str]) -> Result<String, String> {
        stdout_or_stderr(Command::new(&a.kubectl).arg("--kubeconfig").arg(self.kubeconfig()).args(args))
    }

    fn ctr(&self, args: &[&str]) -> Result<String, String> {
        stdout_or_stderr(Command::new("ctr").arg("--address").arg(self.containerd_sock()).args(["--namespace", "k8s.io"]).args(args))
    }

    /// Builds what is missing with the repository's scripts, their progress
    /// (artifact, elapsed) shown as they print it: the control plane and
    /// node artifacts, the helm CLI and the charts the installer needs. Each
    /// script skips what its cache already holds.
    pub fn ensure_artifacts(&self) -> Result<Artifacts, LocalError> {
        let a = self.artifacts();
        let mut missing: Vec<String> = a.missing().iter().map(|p| p.display().to_string()).collect();
        let helm = self.cache.join("bin").join(format!("helm-{}", super::pinned("HELM_VERSION"))).join("helm");
        if !helm.is_file() {
            missing.push(helm.display().to_string());
        }
        let chart = self
            .cache
            .join("go/mod/github.com/cilium")
            .join(format!("cilium@{}", self.versions.cilium))
            .join("install/kubernetes/cilium/Chart.yaml");
        if !chart.is_file() {
            missing.push(chart.display().to_string());
        }
        if missing.is_empty() {
            return Ok(a);
        }
        let list = missing.join(", ");
        let Some(dir) = super::scripts_dir().filter(|_| self.build) else {
            return Err(LocalError::Artifacts(format!(
                "{list}; build them with .ci/build-control-plane, .ci/build-node, .ci/build-helm and .ci/fetch-charts"
            )));
        };
        say(&format!("building what is missing ({list}); a cold build takes about half an hour on 2 cores"));
        let t = std::time::Instant::now();
        for script in ["build-control-plane", "build-node", "build-helm", "fetch-charts"] {
            say(&format!("running .ci/{script} (+{:.0?})", t.elapsed()));
            self.run_script(&dir, script)?;
        }
        say(&format!("artifacts ready in {:.0?}", t.elapsed()));
        let a = self.artifacts();
        match a.missing() {
            m if m.is_empty() => Ok(a),
            m => Err(LocalError::Artifacts(format!("still missing after the build: {m:?}"))),
        }
    }

    /// Runs `.ci/<script>` against this provider's cache (its progress on
    /// stderr).
    pub(crate) fn run_script(&self, dir: &Path, script: &str) -> Result<(), LocalError> {
        let status = Command::new("bash")
            .arg(dir.join(script))
            .env("INFRAFLUX_CACHE", &self.cache)
            .stdout(std::process::Stdio::null())
            .status()
            .map_err(|e| LocalError::Artifacts(format!("{script}: {e}")))?;
        if !status.success() {
            return Err(LocalError::Artifacts(format!("{script} failed ({status})")));
        }
        Ok(())
    }

    /// Brings the node up; returns when the API server answers and the node
    /// is registered (it turns Ready once Cilium is installed).
    pub fn up_blocking(&self) -> Result<(), LocalError> {
        if !nix::unistd::Uid::effective().is_root() {
            return Err(LocalError::NotRoot);
        }
        for p in HOST_PROGRAMS {
            if super::host::which(p).is_none() {
                return Err(LocalError::Artifacts(format!(
                    "host program `{p}` not found; .ci/build-node installs Debian's containerd, runc and iproute2"
                )));
            }
        }
        let a = self.ensure_artifacts()?;
        if self.state.join(HOST_BEFORE).exists() {
            return Err(LocalError::Leftover(format!("state in {}", self.state.display())));
        }
        net::ensure_absent()?;
        fs::create_dir_all(&self.state).map_err(|e| procs::io(&self.state, e))?;
        let before = HostState::capture();
        self.save_iptables()?;
        write(&self.state.join(HOST_BEFORE), &serde_json::to_string_pretty(&before).unwrap_or_default())?;
        say(&format!("host state recorded in {}", self.state.join(HOST_BEFORE).display()));

        // Before any namespace exists, so theirs land in the shared mount.
        self.prepare_mounts()?;
        net::create()?;
        say(&format!("node link {NODE_LINK} {NODE_IP}/24 <-> {ROUTER_NS} {ROUTER_IP}; client {CLIENT_NS} {CLIENT_IP}"));
        let pki = pki::generate(&self.state.join("pki"))?;
        for (name, id, user) in [
            ("admin", "admin", "infraflux-admin"),
            ("kubelet", "kubelet", "kubelet"),
            ("controller-manager", "controller-manager", "kube-controller-manager"),
            ("scheduler", "scheduler", "kube-scheduler"),
        ] {
            write(&self.state.join(format!("{name}.kubeconfig")), &pki::kubeconfig(&pki, &pki.id(id), user))?;
        }

        self.start_containerd()?;
        self.import_images(&a)?;
        self.import_agent_image()?;
        self.start_control_plane(&a, &pki)?;
        self.start_kubelet(&a, &pki)?;
        self.start_frr()?;
        self.apply_coredns(&a)?;
        Ok(())
    }

    fn save_iptables(&self) -> Result<(), LocalError> {
        for prog in ["iptables-nft-save", "iptables-legacy-save", "ip6tables-nft-save", "ip6tables-legacy-save"] {
            if super::host::which(prog).is_some()
                && let Ok(o) = Command::new(prog).output()
                && o.status.success()
            {
                fs::write(self.state.join(format!("{prog}.rules")), &o.stdout).map_err(|e| procs::io(&self.state, e))?;
            }
        }
        Ok(())
    }

    fn start_containerd(&self) -> Result<(), LocalError> {
        let d = self.state.join("containerd");
        let cfg = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  # root here cannot lower oom_score_adj (no CAP_SYS_RESOURCE); without this
  # runc fails every container start.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{d}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{cni_conf}"
"#,
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = self.containerd_sock().display(),
            d = d.display(),
            pause = self.image("pause"),
            cni_bin = self.cni_bin().display(),
            cni_conf = self.cni_conf().display(),
        );
        write(&d.join("config.toml"), &cfg)?;
        fs::create_dir_all(self.cni_bin()).map_err(|e| procs::io(&self.cni_bin(), e))?;
        fs::create_dir_all(self.cni_conf()).map_err(|e| procs::io(&self.cni_conf(), e))?;
        // The CRI plugin sets up each sandbox's loopback with this plugin.
        for plugin in ["loopback", "host-local", "portmap"] {
            let src = Path::new("/usr/lib/cni").join(plugin);
            if src.is_file() {
                fs::copy(&src, self.cni_bin().join(plugin)).map_err(|e| procs::io(&src, e))?;
            }
        }
        let bin = super::host::which("containerd").ok_or_else(|| LocalError::Artifacts("`containerd` not found on PATH".into()))?;
        self.procs().start("containerd", &bin, &[s("--config"), d.join("config.toml").display().to_string()], None)?;
        wait_for("containerd to answer", Duration::from_secs(30), || self.ctr(&["version"]).map(|_| ()))?;
        say("containerd up");
        Ok(())
    }

    fn import_images(&self, a: &Artifacts) -> Result<(), LocalError> {
        let dir = self.cache.join("images");
        fs::create_dir_all(&dir).map_err(|e| procs::io(&dir, e))?;
        let c = &a.cilium_dir;
        let f = |p: &str, to: &str| (c.join(p), to.to_owned());
        let path_env = s("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        let specs = vec![
            ImageSpec::single(self.image("pause"), a.pause.clone(), "/pause", true, vec![]),
            ImageSpec::single(self.image("coredns"), a.coredns.clone(), "/coredns", true, vec![]),
            ImageSpec::single(
                self.image("cilium-operator-generic"),
                a.operator.clone(),
                "/usr/bin/cilium-operator-generic",
                false,
                vec![path_env.clone()],
            ),
            // gops writes its config here (the chart mounts /tmp; the root
            // filesystem is read-only), as the upstream image sets.
            ImageSpec::single(
                self.image("hubble-relay"),
                c.join("hubble-relay"),
                "/usr/bin/hubble-relay",
                true,
                vec![path_env.clone(), s("GOPS_CONFIG_DIR=/tmp")],
            ),
            ImageSpec {
                reference: self.image("cilium"),
                layers: vec![
                    Layer::Tar(a.rootfs.clone()),
                    Layer::Files(vec![
                        f("cilium-agent", "/usr/bin/cilium-agent"),
                        f("cilium-dbg", "/usr/bin/cilium-dbg"),
                        f("cilium-health-responder", "/usr/bin/cilium-health-responder"),
                        f("cilium-mount", "/usr/bin/cilium-mount"),
                        f("cilium-sysctlfix", "/usr/bin/cilium-sysctlfix"),
                        f("hubble", "/usr/bin/hubble"),
                        f("cilium-cni", "/opt/cni/bin/cilium-cni"),
                        f("bpf", "/var/lib/cilium/bpf"),
                        f("init-container.sh", "/init-container.sh"),
                        f("install-plugin.sh", "/install-plugin.sh"),
                        f("cni-uninstall.sh", "/cni-uninstall.sh"),
                    ]),
                ],
                entrypoint: vec![],
                env: vec![path_env, s("HUBBLE_SERVER=unix:///var/run/cilium/hubble.sock"), s("INITSYSTEM=SYSTEMD")],
                workdir: Some(s("/home/cilium")),
                user: None,
            },
        ];
        self.import_specs(&dir, specs)
    }

    /// Assembles (when an input changed) and imports each image.
    pub(crate) fn import_specs(&self, dir: &Path, specs: Vec<ImageSpec>) -> Result<(), LocalError> {
        for spec in specs {
            // The name carries a digest of the spec (env, entrypoint, which
            // files go where): changing any of them builds a new archive.
            let base = spec.reference.rsplit('/').next().unwrap_or("image").replace(':', "-");
            let file = dir.join(format!("{base}-{}.oci.tar", spec.digest()));
            if let Ok(rd) = fs::read_dir(dir) {
                for e in rd.flatten() {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if n.starts_with(&format!("{base}-")) && n.ends_with(".oci.tar") && e.path() != file {
                        let _ = fs::remove_file(e.path());
                    }
                }
            }
            let newest_input = spec
                .layers
                .iter()
                .flat_map(|l| match l {
                    Layer::Tar(p) => vec![p.clone()],
                    Layer::Files(v) => v.iter().map(|(p, _)| p.clone()).collect(),
                })
                // ctime: a chmod (scripts made executable) changes the image too.
                .filter_map(|p| fs::metadata(p).ok().map(|m| std::os::unix::fs::MetadataExt::ctime(&m)))
                .max();
            let fresh = fs::metadata(&file)
                .ok()
                .map(|m| std::os::unix::fs::MetadataExt::ctime(&m))
                .zip(newest_input)
                .is_some_and(|(a, b)| a >= b);
            if !fresh {
                let t = std::time::Instant::now();
                oci::build(&spec, &file)?;
                say(&format!("image {} assembled in {:.0?}", spec.reference, t.elapsed()));
            }
            let t = std::time::Instant::now();
            self.ctr(&["images", "import", &file.display().to_string()])
                .map_err(|m| LocalError::Step { step: format!("import {}", spec.reference), message: m })?;
            say(&format!("image {} imported in {:.0?}", spec.reference, t.elapsed()));
        }
        Ok(())
    }

    /// The probe agent's image, built by `.ci/build-agent-image` (a static
    /// release build of `infraflux-agent`) and imported like the others.
    fn import_agent_image(&self) -> Result<(), LocalError> {
        let Some(dir) = super::scripts_dir() else {
            say("no repository scripts: the probe agent image is not built; give --agent-image to run the cases that need it");
            return Ok(());
        };
        let out = self.cache.join("images/infraflux-agent.oci.tar");
        let t = std::time::Instant::now();
        let status = Command::new("bash")
            .arg(dir.join("build-agent-image"))
            .arg(&out)
            .arg(super::AGENT_IMAGE)
            .stdout(std::process::Stdio::null())
            .status()
            .map_err(|e| LocalError::Artifacts(format!("build-agent-image: {e}")))?;
        if !status.success() {
            return Err(LocalError::Artifacts(format!("build-agent-image failed ({status})")));
        }
        self.ctr(&["images", "import", &out.display().to_string()])
            .map_err(|m| LocalError::Step { step: format!("import {}", super::AGENT_IMAGE), message: m })?;
        say(&format!("image {} built and imported in {:.0?}", super::AGENT_IMAGE, t.elapsed()));
        Ok(())
    }

    fn start_control_plane(&self, a: &Artifacts, pki: &pki::Pki) -> Result<(), LocalError> {
        let p = |x: PathBuf| x.display().to_string();
        let etcd_dir = self.state.join("etcd");
        self.procs().start(
            "etcd",
            &a.etcd,
            &[
                s("--name=infraflux-local"),
                format!("--data-dir={}", p(etcd_dir)),
                s("--listen-client-urls=http://127.0.0.1:23790"),
                s("--advertise-client-urls=http://127.0.0.1:23790"),
                s("--listen-peer-urls=http://127.0.0.1:23800"),
                s("--initial-advertise-peer-urls=http://127.0.0.1:23800"),
                s("--initial-cluster=infraflux-local=http://127.0.0.1:23800"),
                s("--listen-metrics-urls=http://127.0.0.1:23810"),
                s("--log-level=warn"),
            ],
            None,
        )?;
        wait_for("etcd to listen", Duration::from_secs(30), || {
            std::net::TcpStream::connect_timeout(&"127.0.0.1:23790".parse().map_err(|_| "addr")?, Duration::from_secs(1))
                .map(|_| ())
                .map_err(|e| e.to_string())
        })?;
        let api = pki.id("apiserver");
        let kc = pki.id("apiserver-kubelet-client");
        self.procs().start(
            "kube-apiserver",
            &a.kube_apiserver,
            &[
                s("--etcd-servers=http://127.0.0.1:23790"),
                format!("--bind-address={API_IP}"),
                format!("--advertise-address={API_IP}"),
                s("--secure-port=6443"),
                format!("--tls-cert-file={}", p(api.cert)),
                format!("--tls-private-key-file={}", p(api.key)),
                format!("--client-ca-file={}", p(pki.ca())),
                format!("--kubelet-client-certificate={}", p(kc.cert)),
                format!("--kubelet-client-key={}", p(kc.key)),
                format!("--kubelet-certificate-authority={}", p(pki.ca())),
                s("--kubelet-preferred-address-types=InternalIP"),
                format!("--service-account-key-file={}", p(pki.sa_pub())),
                format!("--service-account-signing-key-file={}", p(pki.sa_key())),
                s("--service-account-issuer=https://kubernetes.default.svc.cluster.local"),
                format!("--service-cluster-ip-range={SERVICE_CIDR}"),
                s("--authorization-mode=Node,RBAC"),
                s("--enable-admission-plugins=NodeRestriction"),
                s("--allow-privileged=true"),
                s("--v=1"),
            ],
            None,
        )?;
        wait_for("the API server to be ready", Duration::from_secs(120), || {
            self.kubectl(a, &["get", "--raw", "/readyz"]).map(|_| ())
        })?;
        say(&format!("API server ready at https://{API_IP}:6443"));
        self.procs().start(
            "kube-controller-manager",
            &a.kube_controller_manager,
            &[
                self.component_kubeconfig("controller-manager").as_slice(),
                &[
                    s("--bind-address=127.0.0.1"),
                    s("--leader-elect=false"),
                    format!("--service-account-private-key-file={}", p(pki.sa_key())),
                    format!("--root-ca-file={}", p(pki.ca())),
                    format!("--cluster-signing-cert-file={}", p(pki.dir.join("ca.crt"))),
                    format!("--cluster-signing-key-file={}", p(pki.dir.join("ca.key"))),
                    s("--use-service-account-credentials=true"),
                    s("--allocate-node-cidrs=true"),
                    format!("--cluster-cidr={POD_CIDR}"),
                    format!("--service-cluster-ip-range={SERVICE_CIDR}"),
                    s("--node-cidr-mask-size=24"),
                    s("--controllers=*,-cloud-node-lifecycle,-service-lb-controller,-route"),
                    s("--v=1"),
                ],
            ]
            .concat(),
            None,
        )?;
        self.procs().start(
            "kube-scheduler",
            &a.kube_scheduler,
            &[self.component_kubeconfig("scheduler").as_slice(), &[s("--bind-address=127.0.0.1"), s("--leader-elect=false"), s("--v=1")]].concat(),
            None,
        )?;
        Ok(())
    }

    /// Mounts whose propagation the Cilium pod needs: `Bidirectional` for
    /// bpffs, `HostToContainer` for the cgroup2 root and for `/var/run/netns`
    /// (which containerd looks up without resolving the `/var/run` symlink,
    /// so it lands on `/`). This host's mounts are all private; a systemd
    /// host's `/` is shared. The provider makes `/` shared for the node's
    /// lifetime and `down` makes it private again (the propagation of every
    /// mount is part of the host record), mounts bpffs, and binds the
    /// cgroup2 root where Cilium looks by default.
    fn prepare_mounts(&self) -> Result<(), LocalError> {
        let run = |args: &[&str]| net::run("mount", args);
        run(&["--make-shared", "/"])?;
        if !mount_points().iter().any(|m| m == "/sys/fs/bpf") {
            run(&["-t", "bpf", "bpf", "/sys/fs/bpf"])?;
        }
        run(&["--make-shared", "/sys/fs/bpf"])?;
        let cg = format!("{CILIUM_RUN}/cgroupv2");
        fs::create_dir_all(&cg).map_err(|e| procs::io(Path::new(&cg), e))?;
        run(&["--bind", CGROUP2_HOST, &cg])?;
        run(&["--make-shared", &cg])?;
        // Cilium's loader writes kernel.unprivileged_bpf_disabled=1 at start
        // (errors ignored). From 2, the kernel's default here, that cannot
        // be undone without a reboot, so `down` could never restore it: a
        // read-only bind over the file makes the write fail for the node's
        // lifetime. The agent sees the host file through an rbind hostPath.
        let ubpf = "/proc/sys/kernel/unprivileged_bpf_disabled";
        let guarded = fs::read_to_string(ubpf).is_ok_and(|v| v.trim() != "1");
        if guarded {
            run(&["--bind", ubpf, ubpf])?;
            run(&["-o", "remount,bind,ro", ubpf])?;
        }
        say(&format!(
            "mounts for Cilium: / shared, /sys/fs/bpf (bpffs, shared), {cg} (bind of {CGROUP2_HOST}){}",
            if guarded { format!(", {ubpf} read-only") } else { String::new() }
        ));
        Ok(())
    }

    /// A control-plane component's client identity: its kubeconfig, also
    /// for delegated authentication and authorization.
    fn component_kubeconfig(&self, name: &str) -> [String; 3] {
        let k = self.state.join(format!("{name}.kubeconfig")).display().to_string();
        [format!("--kubeconfig={k}"), format!("--authentication-kubeconfig={k}"), format!("--authorization-kubeconfig={k}")]
    }

    fn start_kubelet(&self, a: &Artifacts, pki: &pki::Pki) -> Result<(), LocalError> {
        let serving = pki.id("kubelet-serving");
        let kdir = self.state.join("kubelet");
        // Pods' resolv.conf for dnsPolicy Default: the router, never the host's resolver.
        write(&self.state.join("resolv.conf"), &format!("nameserver {ROUTER_IP}\n"))?;
        let cfg = format!(
            r#"apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 hybrid host: cgroupfs, and 1.35+ must be told v1 is acceptable.
cgroupDriver: cgroupfs
failCgroupV1: false
containerRuntimeEndpoint: unix://{sock}
address: {NODE_IP}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
tlsCertFile: {cert}
tlsPrivateKeyFile: {key}
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: {ca}}}
authorization: {{mode: Webhook}}
clusterDomain: cluster.local
clusterDNS: [{DNS_SERVICE_IP}]
resolvConf: {resolv}
failSwapOn: false
podLogsDir: {logs}
# Images come from nowhere but this host: never garbage-collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {{"memory.available": "100Mi", "nodefs.available": "2%", "imagefs.available": "2%"}}
serializeImagePulls: false
"#,
            sock = self.containerd_sock().display(),
            cert = serving.cert.display(),
            key = serving.key.display(),
            ca = pki.ca().display(),
            resolv = self.state.join("resolv.conf").display(),
            logs = self.state.join("pod-logs").display(),
        );
        write(&kdir.join("config.yaml"), &cfg)?;
        self.procs().start(
            "kubelet",
            &a.kubelet,
            &[
                format!("--config={}", kdir.join("config.yaml").display()),
                format!("--kubeconfig={}", self.state.join("kubelet.kubeconfig").display()),
                format!("--root-dir={}", kdir.join("root").display()),
                format!("--cert-dir={}", kdir.join("pki").display()),
                format!("--node-ip={NODE_IP}"),
                format!("--hostname-override={NODE_NAME}"),
                s("--v=1"),
            ],
            None,
        )?;
        let kubelet = self.procs().recorded().into_iter().find(|r| r.name == "kubelet");
        wait_for(&format!("node {NODE_NAME} to register"), Duration::from_secs(120), || {
            if let Some(k) = &kubelet
                && !self.procs().alive(k)
            {
                return Err(format!("kubelet exited: {}", self.procs().log_tail("kubelet", 5)));
            }
            self.kubectl(a, &["get", "node", NODE_NAME, "-o", "name"]).map(|_| ())
        })?;
        say(&format!("node {NODE_NAME} registered (Ready once Cilium runs)"));
        Ok(())
    }

    fn frr_dir(&self) -> PathBuf {
        self.state.join("frr")
    }

    /// FRR in the router namespace: zebra (to install what it learns, so the
    /// client reaches LB VIPs through the node) and bgpd, peering with the
    /// node as the profile's first BGP peer.
    fn start_frr(&self) -> Result<(), LocalError> {
        let (asn, node_asn) = self.bgp_asns();
        let d = self.frr_dir();
        fs::create_dir_all(&d).map_err(|e| procs::io(&d, e))?;
        let zsock = d.join("zserv.api");
        write(&d.join("zebra.conf"), "hostname ifx-router\n")?;
        write(
            &d.join("bgpd.conf"),
            &format!(
                "frr defaults traditional\nhostname ifx-router\nlog stdout\n!\nrouter bgp {asn}\n bgp router-id {ROUTER_IP}\n no bgp ebgp-requires-policy\n neighbor {NODE_IP} remote-as {node_asn}\n neighbor {NODE_IP} timers 3 9\n neighbor {NODE_IP} timers connect 1\n address-family ipv4 unicast\n exit-address-family\n!\n"
            ),
        )?;
        // zebra drops to the packaged `frr` user (it has no --skip_runas):
        // its directory must be that user's.
        let _ = Command::new("chown").args(["-R", "frr:frr"]).arg(&d).status();
        let dd = d.display().to_string();
        let zs = zsock.display().to_string();
        self.procs().start(
            "frr-zebra",
            Path::new("/usr/lib/frr/zebra"),
            &[s("-f"), format!("{dd}/zebra.conf"), s("-i"), format!("{dd}/zebra.pid"), s("--vty_socket"), dd.clone(), s("-z"), zs.clone(), s("-P"), s("0")],
            Some(ROUTER_NS),
        )?;
        wait_for("FRR zebra", Duration::from_secs(15), || if zsock.exists() { Ok(()) } else { Err("no zserv socket".into()) })?;
        self.procs().start(
            "frr-bgpd",
            Path::new("/usr/lib/frr/bgpd"),
            &[s("-f"), format!("{dd}/bgpd.conf"), s("-i"), format!("{dd}/bgpd.pid"), s("--vty_socket"), dd.clone(), s("-z"), zs, s("-S"), s("-P"), s("0"), s("-l"), s(ROUTER_IP)],
            Some(ROUTER_NS),
        )?;
        wait_for("FRR bgpd", Duration::from_secs(15), || if d.join("bgpd.vty").exists() { Ok(()) } else { Err("no vty socket".into()) })?;
        say(&format!("FRR in {ROUTER_NS}: AS {asn}, neighbor {NODE_IP} AS {node_asn}"));
        Ok(())
    }

    /// (router AS, node AS): the profile's peer and local AS, written by
    /// `up` from the adapted profile.
    fn bgp_asns(&self) -> (u64, u64) {
        let text = fs::read_to_string(self.state.join("bgp-asns")).unwrap_or_default();
        let mut it = text.split_whitespace().filter_map(|x| x.parse().ok());
        (it.next().unwrap_or(65000), it.next().unwrap_or(65001))
    }

    /// Records the ASNs FRR peers with (from the adapted profile).
    pub fn set_bgp_asns(&self, router: u64, node: u64) -> Result<(), LocalError> {
        write(&self.state.join("bgp-asns"), &format!("{router} {node}\n"))
    }

    pub fn vtysh(&self, cmd: &str) -> Result<String, LocalError> {
        net::in_ns(ROUTER_NS, "vtysh", &["--vty_socket", &self.frr_dir().display().to_string(), "-c", cmd])
    }

    fn apply_coredns(&self, a: &Artifacts) -> Result<(), LocalError> {
        let manifest = format!(
            r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: coredns, namespace: kube-system, labels: {{app.kubernetes.io/managed-by: infraflux}}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: "system:coredns", labels: {{app.kubernetes.io/managed-by: infraflux}}}}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: "system:coredns", labels: {{app.kubernetes.io/managed-by: infraflux}}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}}
subjects: [{{kind: ServiceAccount, name: coredns, namespace: kube-system}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: coredns, namespace: kube-system, labels: {{app.kubernetes.io/managed-by: infraflux}}}}
data:
  # No forwarder: names outside the cluster are not resolved, so no query
  # ever leaves for the host's resolver.
  Corefile: |
    .:53 {{
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {{
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
        }}
        cache 30
        loop
        reload
    }}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: coredns, namespace: kube-system, labels: {{k8s-app: kube-dns, app.kubernetes.io/managed-by: infraflux}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{k8s-app: kube-dns}}}}
  template:
    metadata: {{labels: {{k8s-app: kube-dns}}}}
    spec:
      serviceAccountName: coredns
      priorityClassName: system-cluster-critical
      tolerations: [{{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoSchedule}}]
      containers:
      - name: coredns
        image: {image}
        imagePullPolicy: Never
        args: [-conf, /etc/coredns/Corefile]
        ports: [{{containerPort: 53, protocol: UDP, name: dns}}, {{containerPort: 53, protocol: TCP, name: dns-tcp}}]
        readinessProbe: {{httpGet: {{path: /ready, port: 8181}}}}
        livenessProbe: {{httpGet: {{path: /health, port: 8080}}}}
        volumeMounts: [{{name: config, mountPath: /etc/coredns}}]
      volumes: [{{name: config, configMap: {{name: coredns}}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: kube-dns, namespace: kube-system, labels: {{k8s-app: kube-dns, app.kubernetes.io/managed-by: infraflux}}}}
spec:
  selector: {{k8s-app: kube-dns}}
  clusterIP: {DNS_SERVICE_IP}
  ports: [{{name: dns, port: 53, protocol: UDP}}, {{name: dns-tcp, port: 53, protocol: TCP}}]
"#,
            image = self.image("coredns"),
        );
        let path = self.state.join("coredns.yaml");
        write(&path, &manifest)?;
        self.kubectl(a, &["apply", "-f", &path.display().to_string()])
            .map_err(|m| LocalError::Step { step: "apply CoreDNS".into(), message: m })?;
        Ok(())
    }

    /// After the installer: the node Ready (Cilium runs), CoreDNS available,
    /// the BGP session with the router up.
    pub fn after_install_blocking(&self) -> Result<(), LocalError> {
        let a = self.artifacts();
        wait_for(&format!("node {NODE_NAME} Ready"), Duration::from_secs(300), || {
            self.kubectl(&a, &["wait", "--for=condition=Ready", &format!("node/{NODE_NAME}"), "--timeout=5s"]).map(|_| ())
        })?;
        wait_for("CoreDNS available", Duration::from_secs(300), || {
            self.kubectl(&a, &["-n", "kube-system", "rollout", "status", "deploy/coredns", "--timeout=5s"]).map(|_| ())
        })?;
        say("node Ready, CoreDNS available");
        Ok(())
    }

    /// Takes the node down and puts the host back as `up` found it.
    pub fn down_blocking(&self) -> Result<(), LocalError> {
        if !nix::unistd::Uid::effective().is_root() {
            return Err(LocalError::NotRoot);
        }
        let before_path = self.state.join(HOST_BEFORE);
        let before: Option<HostState> = fs::read_to_string(&before_path).ok().and_then(|t| serde_json::from_str(&t).ok());
        let procs = self.procs();
        let recorded = procs.recorded();
        let find = |n: &str| recorded.iter().find(|r| r.name == n).cloned();
        // The kubelet first, so it restarts nothing; then every container.
        if let Some(k) = find("kubelet") {
            procs.stop(&k, Duration::from_secs(10));
        }
        if self.containerd_sock().exists()
            && let Ok(tasks) = self.ctr(&["tasks", "ls", "-q"])
        {
            for t in tasks.lines().filter(|l| !l.is_empty()) {
                let _ = self.ctr(&["tasks", "kill", "-a", "-s", "SIGKILL", t]);
            }
            std::thread::sleep(Duration::from_millis(500));
            for t in tasks.lines().filter(|l| !l.is_empty()) {
                let _ = self.ctr(&["tasks", "rm", "-f", t]);
            }
        }
        for name in [super::gitops::SOURCE_PROC, "frr-bgpd", "frr-zebra", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd", "containerd"] {
            if let Some(r) = find(name) {
                procs.stop(&r, Duration::from_secs(10));
            }
        }
        // Shims of our containerd (and the containers they still hold).
        let sock = self.containerd_sock().display().to_string();
        for pid in procs::pids_with_arg(&sock) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        // Cilium's own cleanup: its links, routes, iptables chains, BPF state.
        let dbg = self.artifacts().cilium_dir.join("cilium-dbg");
        // The agent was killed with its container; its pid file would make
        // the cleanup refuse ("agent should not be running").
        let _ = fs::remove_file(format!("{CILIUM_RUN}/cilium.pid"));
        if dbg.is_file() {
            let out = Command::new(&dbg).args(["post-uninstall-cleanup", "--all-state", "--force"]).output();
            if let Ok(o) = out
                && !o.status.success()
            {
                say(&format!("cilium-dbg post-uninstall-cleanup: {}", String::from_utf8_lossy(&o.stderr).trim()));
            }
        }
        let mut problems = Vec::new();
        // Mounts made since `up` (containerd's, the kubelet's, bpffs, pod netns), deepest first.
        if let Some(b) = &before {
            let was: std::collections::BTreeSet<&str> = b.mounts.iter().filter_map(|m| m.split(' ').next()).collect();
            unmount_where(|m| !was.contains(m), &mut problems);
        }
        let state = self.state.display().to_string();
        unmount_where(|m| m.starts_with(&state), &mut problems);
        if let Some(b) = &before {
            restore_propagation(&b.mounts, &mut problems);
        }
        remove_cgroups(&mut problems);
        problems.extend(net::delete());
        if let Some(b) = &before {
            for ns in HostState::capture().netns {
                if !b.netns.contains(&ns) {
                    let name = ns.split_whitespace().next().unwrap_or("").to_owned();
                    if let Err(e) = net::ip(&["netns", "del", &name]) {
                        problems.push(e.to_string());
                    }
                }
            }
            // Links Cilium made that its cleanup left (lxc*, cilium_*).
            for l in HostState::capture().links {
                if !b.links.contains(&l) {
                    let name = l.split([':', '@']).next().unwrap_or("").trim().to_owned();
                    if !name.is_empty() {
                        let _ = net::ip(&["link", "del", &name]);
                    }
                }
            }
            self.restore_iptables(b);
            let (_, failed) = b.restore_sysctls();
            problems.extend(failed);
            b.remove_created_paths();
        }
        let after = HostState::capture();
        let diff = before.as_ref().map(|b| b.diff(&after)).unwrap_or_default();
        if diff.is_empty() && problems.is_empty() {
            let _ = fs::remove_dir_all(&self.state);
            say("node removed; the host matches its record from before `up`");
            return Ok(());
        }
        let mut all = problems;
        all.extend(diff);
        Err(LocalError::HostChanged(all))
    }

    /// Puts the iptables rulesets back: tables that did not exist before
    /// are deleted (nft backend: `nft delete table`; a legacy table cannot
    /// be unloaded, so it is flushed), tables that did are restored from the
    /// dump `up` saved.
    fn restore_iptables(&self, before: &HostState) {
        let now = HostState::capture();
        for (prog, rules) in &before.iptables {
            if now.iptables.get(prog) == Some(rules) {
                continue;
            }
            let tables = |lines: &[String]| -> Vec<String> {
                lines.iter().filter_map(|l| l.strip_prefix('*')).map(str::to_owned).collect()
            };
            let had = tables(rules);
            let family = if prog.starts_with("ip6") { "ip6" } else { "ip" };
            let restore = prog.replace("-save", "-restore");
            for t in tables(now.iptables.get(prog).map(Vec::as_slice).unwrap_or(&[])) {
                if had.contains(&t) {
                    continue;
                }
                if prog.contains("-nft-") {
                    let _ = Command::new("nft").args(["delete", "table", family, &t]).status();
                } else {
                    let _ = pipe_into(&restore, &format!("*{t}\nCOMMIT\n"));
                }
            }
            if !had.is_empty()
                && let Ok(f) = fs::File::open(self.state.join(format!("{prog}.rules")))
            {
                let _ = Command::new(&restore).stdin(f).status();
            }
        }
    }
}

/// What `cmd` printed: stdout when it succeeded, else its stderr.
fn stdout_or_stderr(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

fn pipe_into(program: &str, input: &str) -> std::io::Result<std::process::ExitStatus> {
    use std::io::Write as _;
    let mut child = Command::new(program).stdin(std::process::Stdio::piped()).spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes())?;
    }
    child.wait()
}

fn mount_points() -> Vec<String> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines().filter_map(|l| l.split(' ').nth(4).map(str::to_owned)).collect()
}

fn umount(point: &str, problems: &mut Vec<String>) {
    if let Err(e) = nix::mount::umount2(point, nix::mount::MntFlags::MNT_DETACH) {
        problems.push(format!("umount {point}: {e}"));
    }
}

/// Sets every mount that still exists back to the propagation it had.
fn restore_propagation(before: &[String], problems: &mut Vec<String>) {
    let now = super::host::HostState::capture().mounts;
    for m in before {
        if now.contains(m) {
            continue;
        }
        let Some(point) = m.split(' ').next() else { continue };
        let Some(prop) = m.rsplit_once('[').map(|(_, p)| p.trim_end_matches(']')) else { continue };
        if !now.iter().any(|n| n.split(' ').next() == Some(point)) {
            continue;
        }
        let flag = if prop.contains("shared") {
            "--make-shared"
        } else if prop.contains("master") {
            "--make-slave"
        } else if prop.contains("unbindable") {
            "--make-unbindable"
        } else {
            "--make-private"
        };
        if let Err(e) = net::run("mount", &[flag, point]) {
            problems.push(e.to_string());
        }
    }
}

/// Unmounts every mount point `pick` selects, deepest first.
fn unmount_where(pick: impl Fn(&str) -> bool, problems: &mut Vec<String>) {
    let mut points: Vec<String> = mount_points().into_iter().filter(|m| pick(m)).collect();
    points.sort_by_key(|m| std::cmp::Reverse(m.len()));
    points.dedup();
    for m in points {
        umount(&m, problems);
    }
}

/// The kubelet's `kubepods` trees in every cgroup v1 hierarchy (and v2),
/// removed bottom-up once no process is left in them.
fn remove_cgroups(problems: &mut Vec<String>) {
    fn rm(dir: &Path, problems: &mut Vec<String>) {
        if let Ok(rd) = fs::read_dir(dir) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    rm(&e.path(), problems);
                }
            }
        }
        if let Err(e) = fs::remove_dir(dir) {
            problems.push(format!("rmdir {}: {e}", dir.display()));
        }
    }
    let Ok(rd) = fs::read_dir("/sys/fs/cgroup") else { return };
    for h in rd.flatten() {
        let k = h.path().join("kubepods");
        if k.is_dir() {
            rm(&k, problems);
        }
    }
}
