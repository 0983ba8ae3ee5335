//! A real Kubernetes control plane on loopback, for tests and the
//! docker-less local provider.
//!
//! etcd, kube-apiserver, kube-controller-manager (so namespaces really
//! finalise and garbage collection runs), kube-scheduler and kwok (fake Ready
//! nodes and Running pods on demand) run as child processes with generated
//! certificates. Nothing is mocked: the binaries are the upstream ones built
//! from Go modules by `.ci/build-control-plane`.
//!
//! Children are started through `setpriv --pdeathsig KILL` from one
//! long-lived spawner thread, so they die with the test process even when it
//! is killed or a shared (never dropped) fixture is in use.

mod binaries;
mod certs;
pub mod crds;
mod env;

pub use env::{TestEnv, kwok_node, run_id};

pub use binaries::{Binaries, Versions, cache_dir};

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, DeleteParams, PostParams};

/// Env var that, set to `skip`, makes cluster tests skip (with a printed
/// reason) instead of failing when the binaries are missing.
pub const SKIP_ENV: &str = "INFRAFLUX_CLUSTER_TESTS";

/// Errors starting or talking to the control plane.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "control-plane binaries missing: {}; build them with .ci/build-control-plane",
        .0.join(", ")
    )]
    MissingBinaries(Vec<String>),
    #[error("failed to generate certificates: {0}")]
    Pki(String),
    #[error("failed to {what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to start {component}: {message}")]
    Start { component: String, message: String },
    #[error("{component} exited early ({status}); log tail:\n{log}")]
    Exited {
        component: String,
        status: String,
        log: String,
    },
    #[error("control plane not ready after {0:?}: {1}")]
    NotReady(Duration, String),
    #[error("failed to build a client for the control plane")]
    Client(#[source] kube::Error),
    #[error("kubernetes api call failed: {0}")]
    Api(#[source] kube::Error),
    #[error("failed to fetch upstream CRDs: {0}")]
    Crds(String),
}

/// What to run besides etcd and kube-apiserver.
#[derive(Debug, Clone)]
pub struct Options {
    pub controller_manager: bool,
    pub scheduler: bool,
    pub kwok: bool,
    /// Bound on the whole start-up.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            controller_manager: true,
            scheduler: true,
            kwok: true,
            timeout: Duration::from_secs(120),
        }
    }
}

struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

/// A running control plane. Stops its processes and removes its directory on drop.
pub struct ControlPlane {
    dir: PathBuf,
    kubeconfig: PathBuf,
    server: String,
    procs: Mutex<Vec<Proc>>,
    binaries: Binaries,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("server", &self.server)
            .field("dir", &self.dir)
            .finish()
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

fn free_port() -> Result<u16, Error> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(io("bind a free loopback port"))?;
    let port = l.local_addr().map_err(io("read a bound port"))?.port();
    Ok(port)
}

type SpawnReq = (Command, mpsc::Sender<std::io::Result<Child>>);

/// One thread that spawns every child and lives as long as the process, so
/// `--pdeathsig` (which fires when the *spawning thread* exits) only fires
/// when the process is gone.
fn spawner() -> &'static Mutex<mpsc::Sender<SpawnReq>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnReq>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnReq>();
        std::thread::Builder::new()
            .name("infraflux-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .map(|_| ())
            .unwrap_or(());
        Mutex::new(tx)
    })
}

fn spawn(name: &'static str, bin: &Path, args: &[String], log: &Path) -> Result<Proc, Error> {
    let out = std::fs::File::create(log).map_err(io(format!("create {}", log.display())))?;
    let err = out.try_clone().map_err(io("clone a log handle"))?;
    let mut cmd = if Path::new("/usr/bin/setpriv").exists() {
        let mut c = Command::new("/usr/bin/setpriv");
        c.arg("--pdeathsig").arg("KILL").arg("--").arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    let (tx, rx) = mpsc::channel();
    spawner()
        .lock()
        .map_err(|_| Error::Start {
            component: name.into(),
            message: "spawner lock poisoned".into(),
        })?
        .send((cmd, tx))
        .map_err(|_| Error::Start {
            component: name.into(),
            message: "spawner thread is gone".into(),
        })?;
    let child = rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| Error::Start {
            component: name.into(),
            message: "spawner did not answer".into(),
        })?
        .map_err(|e| Error::Start {
            component: name.into(),
            message: format!("{}: {e}", bin.display()),
        })?;
    Ok(Proc {
        name,
        child,
        log: log.to_owned(),
    })
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes run directories left by processes that no longer exist.
fn sweep_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let pid = name
            .strip_prefix("cp-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !pid_alive(pid) {
                let _ = std::fs::remove_dir_all(e.path());
            }
    }
}

impl ControlPlane {
    /// Starts a control plane and waits until it serves requests (and, with the
    /// controller manager, until it has created the `default` ServiceAccount).
    pub async fn start(opts: Options) -> Result<ControlPlane, Error> {
        let binaries = Binaries::locate()?;
        let base = cache_dir().join("run");
        std::fs::create_dir_all(&base).map_err(io(format!("create {}", base.display())))?;
        sweep_stale(&base);
        let dir = base.join(format!(
            "cp-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
        let pki = certs::generate(&dir)?;
        let etcd_client = free_port()?;
        let etcd_peer = free_port()?;
        let api_port = free_port()?;
        let server = format!("https://127.0.0.1:{api_port}");
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_yaml(&server, &pki))
            .map_err(io("write the kubeconfig"))?;

        let cp = ControlPlane {
            dir: dir.clone(),
            kubeconfig: kubeconfig.clone(),
            server: server.clone(),
            procs: Mutex::new(Vec::new()),
            binaries: binaries.clone(),
        };
        let s = |v: &str| v.to_owned();
        let p = |p: &Path| p.display().to_string();
        cp.push(spawn(
            "etcd",
            &binaries.etcd,
            &[
                s("--name=infraflux"),
                format!("--data-dir={}", p(&dir.join("etcd"))),
                format!("--listen-client-urls=http://127.0.0.1:{etcd_client}"),
                format!("--advertise-client-urls=http://127.0.0.1:{etcd_client}"),
                format!("--listen-peer-urls=http://127.0.0.1:{etcd_peer}"),
                format!("--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}"),
                format!("--initial-cluster=infraflux=http://127.0.0.1:{etcd_peer}"),
                // Test data is disposable; fsync only slows every write down.
                s("--unsafe-no-fsync"),
                s("--log-level=warn"),
            ],
            &dir.join("etcd.log"),
        )?);
        cp.push(spawn(
            "kube-apiserver",
            &binaries.kube_apiserver,
            &[
                format!("--etcd-servers=http://127.0.0.1:{etcd_client}"),
                s("--bind-address=127.0.0.1"),
                s("--advertise-address=127.0.0.1"),
                format!("--secure-port={api_port}"),
                format!("--tls-cert-file={}", p(&pki.server_cert)),
                format!("--tls-private-key-file={}", p(&pki.server_key)),
                format!("--client-ca-file={}", p(&pki.ca_cert)),
                format!("--service-account-key-file={}", p(&pki.sa_pub)),
                format!("--service-account-signing-key-file={}", p(&pki.sa_key)),
                s("--service-account-issuer=https://kubernetes.default.svc.cluster.local"),
                s("--service-cluster-ip-range=10.0.0.0/24"),
                s("--authorization-mode=RBAC"),
                s("--allow-privileged=true"),
                s("--enable-priority-and-fairness=false"),
                s("--v=1"),
            ],
            &dir.join("kube-apiserver.log"),
        )?);

        let deadline = Instant::now() + opts.timeout;
        let client = cp.client().await?;
        cp.wait_until(deadline, "kube-apiserver /readyz", || {
            let client = client.clone();
            async move {
                let req = http::Request::get("/readyz").body(Vec::new()).map_err(|e| e.to_string())?;
                client.request_text(req).await.map(|_| ()).map_err(|e| e.to_string())
            }
        })
        .await?;

        if opts.controller_manager {
            cp.push(spawn(
                "kube-controller-manager",
                &binaries.kube_controller_manager,
                &[
                    format!("--kubeconfig={}", p(&kubeconfig)),
                    s("--leader-elect=false"),
                    s("--bind-address=127.0.0.1"),
                    format!("--secure-port={}", free_port()?),
                    format!("--service-account-private-key-file={}", p(&pki.sa_key)),
                    format!("--root-ca-file={}", p(&pki.ca_cert)),
                    s("--use-service-account-credentials=false"),
                    s("--controllers=*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle,-service-lb-controller,-route"),
                    s("--v=1"),
                ],
                &dir.join("kube-controller-manager.log"),
            )?);
            let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
            cp.wait_until(deadline, "the default ServiceAccount (controller-manager)", || {
                let sas = sas.clone();
                async move {
                    sas.get("default").await.map(|_| ()).map_err(|e| e.to_string())
                }
            })
            .await?;
        }
        if opts.scheduler {
            cp.push(spawn(
                "kube-scheduler",
                &binaries.kube_scheduler,
                &[
                    format!("--kubeconfig={}", p(&kubeconfig)),
                    s("--leader-elect=false"),
                    s("--bind-address=127.0.0.1"),
                    format!("--secure-port={}", free_port()?),
                    s("--v=1"),
                ],
                &dir.join("kube-scheduler.log"),
            )?);
        }
        if opts.kwok {
            cp.push(spawn(
                "kwok",
                &binaries.kwok,
                &[
                    format!("--kubeconfig={}", p(&kubeconfig)),
                    // Only nodes the tests mark as fake; never real ones.
                    s("--manage-all-nodes=false"),
                    s("--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake"),
                    s("--cidr=10.200.0.0/16"),
                    s("--node-ip=10.201.0.1"),
                    s("--node-port=0"),
                ],
                &dir.join("kwok.log"),
            )?);
        }
        cp.check_alive()?;
        Ok(cp)
    }

    /// The fixture shared by every test in this test binary, started on first
    /// use. Its processes die with the test process (pdeathsig).
    pub fn shared() -> Result<&'static ControlPlane, String> {
        static SHARED: OnceLock<Result<ControlPlane, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                // Start on a private runtime: the caller may be inside another one.
                std::thread::spawn(|| {
                    let rt = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(1)
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())?;
                    rt.block_on(ControlPlane::start(Options::default()))
                        .map_err(|e| e.to_string())
                })
                .join()
                .unwrap_or_else(|_| Err("control-plane start panicked".into()))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// For tests: the shared fixture, or `None` (with the reason printed)
    /// when `INFRAFLUX_CLUSTER_TESTS=skip`. Panics with a clear message when
    /// it cannot start, so a missing build fails the tier loudly.
    pub fn for_tests() -> Option<&'static ControlPlane> {
        if std::env::var(SKIP_ENV).as_deref() == Ok("skip") {
            eprintln!("skipped: {SKIP_ENV}=skip (cluster tier explicitly disabled)");
            return None;
        }
        match Self::shared() {
            Ok(cp) => Some(cp),
            Err(e) => panic!(
                "real control plane unavailable: {e}\n\
                 build it with `.ci/build-control-plane`, or set {SKIP_ENV}=skip to skip this tier explicitly"
            ),
        }
    }

    fn push(&self, p: Proc) {
        if let Ok(mut procs) = self.procs.lock() {
            procs.push(p);
        }
    }

    fn check_alive(&self) -> Result<(), Error> {
        let mut procs = self.procs.lock().map_err(|_| Error::Start {
            component: "control plane".into(),
            message: "process table lock poisoned".into(),
        })?;
        for p in procs.iter_mut() {
            if let Ok(Some(status)) = p.child.try_wait() {
                return Err(Error::Exited {
                    component: p.name.into(),
                    status: status.to_string(),
                    log: tail(&p.log, 30),
                });
            }
        }
        Ok(())
    }

    async fn wait_until<F, Fut>(&self, deadline: Instant, what: &str, mut probe: F) -> Result<(), Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let start = Instant::now();
        loop {
            self.check_alive()?;
            let last = match probe().await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(Error::NotReady(start.elapsed(), format!("{what}: {last}")));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    pub fn server_url(&self) -> &str {
        &self.server
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn binaries(&self) -> &Binaries {
        &self.binaries
    }

    /// Last lines of a component's log (`kube-apiserver`, `etcd`, …).
    pub fn log_tail(&self, component: &str, lines: usize) -> String {
        tail(&self.dir.join(format!("{component}.log")), lines)
    }

    /// A client for the admin identity, bound to the caller's runtime.
    pub async fn client(&self) -> Result<kube::Client, Error> {
        let text = std::fs::read_to_string(&self.kubeconfig).map_err(io("read the kubeconfig"))?;
        let kc = kube::config::Kubeconfig::from_yaml(&text)
            .map_err(|e| Error::Client(kube::Error::InferKubeconfig(e)))?;
        let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| Error::Client(kube::Error::InferKubeconfig(e)))?;
        kube::Client::try_from(cfg).map_err(Error::Client)
    }

    /// Stops every process (SIGKILL; the data is disposable).
    pub fn stop(&self) {
        if let Ok(mut procs) = self.procs.lock() {
            for p in procs.iter_mut().rev() {
                let _ = p.child.kill();
                let _ = p.child.wait();
            }
            procs.clear();
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn b64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn kubeconfig_yaml(server: &str, pki: &certs::Pki) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: infraflux-local\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\nusers:\n- name: infraflux-admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: infraflux-local\n  context:\n    cluster: infraflux-local\n    user: infraflux-admin\ncurrent-context: infraflux-local\n",
        b64(&pki.ca_pem),
        b64(&pki.admin_cert_pem),
        b64(&pki.admin_key_pem),
    )
}

/// Creates a uniquely named namespace for one test and returns its name.
pub async fn test_namespace(client: &kube::Client, prefix: &str) -> Result<String, Error> {
    let name = format!("{prefix}-{:06x}", rand::random::<u32>() & 0xff_ffff);
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"infraflux.io/test": "true"}}
    }))
    .map_err(|e| Error::Start {
        component: "namespace".into(),
        message: e.to_string(),
    })?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .map_err(Error::Api)?;
    Ok(name)
}

/// Deletes a test namespace (best effort; the controller manager finalises it).
pub async fn delete_namespace(client: &kube::Client, name: &str) {
    let _ = Api::<Namespace>::all(client.clone())
        .delete(name, &DeleteParams::default())
        .await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn pinned_versions_come_from_versions_env() {
        let v = super::Versions::pinned();
        assert!(v.kubernetes.starts_with("v1.35."), "{v:?}");
        assert!(v.etcd.starts_with("v3.5."), "{v:?}");
        assert!(v.kwok.starts_with('v'), "{v:?}");
    }
}
