#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test")]

//! The served repositories as real clients see them: `git clone` over smart
//! HTTP, `git push` refused, `helm pull` from the chart repository, and
//! nothing outside the root reachable.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use infraflux_gitops::{serve, source};

fn helm() -> Option<PathBuf> {
    let v = infraflux_model::pins::pinned("HELM_VERSION");
    std::env::var_os("INFRAFLUX_HELM")
        .map(PathBuf::from)
        .or_else(|| infraflux_model::pins::cache_dir().map(|c| c.join("bin").join(format!("helm-{v}")).join("helm")))
        .filter(|p| p.is_file())
}

fn git(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .expect("git runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_served_tree_clones_refuses_pushes_and_serves_charts() {
    let t = tempfile::tempdir().expect("tmp");
    let root = t.path().join("root");
    let mut files = BTreeMap::new();
    files.insert("clusters/lab/flux.yaml".to_owned(), b"kind: Kustomization\n".to_vec());
    files.insert("infrastructure/configs/lb-pools.yaml".to_owned(), b"kind: CiliumLoadBalancerIPPool\n".to_vec());
    let sha = source::git_repo(&root.join("git/lab.git"), &files, None, "InfraFlux tree").expect("repo");
    std::fs::write(t.path().join("secret.txt"), "outside the root").expect("write");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve::serve(listener, root.clone(), async {
        let _ = stopped.await;
    }));
    let base = format!("http://{addr}");

    let work = t.path().to_path_buf();
    let b = base.clone();
    let (clone, head, push) = tokio::task::spawn_blocking(move || {
        let clone = git(&["clone", "-q", &format!("{b}/git/lab.git"), "checkout"], &work);
        let co = work.join("checkout");
        let head = git(&["rev-parse", "HEAD"], &co);
        std::fs::write(co.join("evil.yaml"), "x").expect("write");
        git(&["add", "-A"], &co);
        git(&["-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qm", "x"], &co);
        let push = git(&["push", "-q", "origin", "HEAD:main"], &co);
        (clone, head, push)
    })
    .await
    .expect("join");
    assert!(clone.status.success(), "clone: {}", String::from_utf8_lossy(&clone.stderr));
    assert_eq!(String::from_utf8_lossy(&head.stdout).trim(), sha, "the clone is the served commit");
    assert!(t.path().join("checkout/infrastructure/configs/lb-pools.yaml").is_file());
    assert!(!push.status.success(), "a push must be refused");
    let after = git(&["rev-parse", "main"], &root.join("git/lab.git"));
    assert_eq!(String::from_utf8_lossy(&after.stdout).trim(), sha, "the served branch is unchanged");

    let client = |path: &str| {
        let url = format!("{base}{path}");
        async move {
            let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let (mut s, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("handshake");
            tokio::spawn(conn);
            let req = hyper::Request::get(url).body(http_body_util::Empty::<bytes::Bytes>::new()).expect("req");
            s.send_request(req).await.expect("send").status().as_u16()
        }
    };
    assert_eq!(client("/healthz").await, 200);
    assert_eq!(client("/charts/../secret.txt").await, 404);
    assert_eq!(client("/charts/%2e%2e%2fsecret.txt").await, 404);
    assert_eq!(client("/git/../secret.txt").await, 404);
    assert_eq!(client("/elsewhere").await, 404);

    match helm() {
        None => eprintln!("helm not built (.ci/build-helm): the chart repository half is not run"),
        Some(helm) => {
            let v = infraflux_model::pins::pinned("CILIUM_VERSION");
            let chart = infraflux_stack::charts::locate(infraflux_stack::charts::Chart::Cilium, &v, None).expect("cilium chart (.ci/fetch-charts)");
            let url = format!("{base}/charts");
            let charts = vec![source::ChartSource { dir: chart.path.clone(), version: chart.effective_version() }];
            let r = root.clone();
            let h = helm.clone();
            let dest = t.path().join("pulled");
            let pulled = tokio::task::spawn_blocking(move || {
                source::chart_repo(&r.join("charts"), &h, &charts, &url).expect("chart repo");
                std::fs::create_dir_all(&dest).expect("mkdir");
                Command::new(&h)
                    .args(["pull", "cilium", "--repo", &url, "--version", v.trim_start_matches('v'), "-d"])
                    .arg(&dest)
                    .output()
                    .expect("helm runs")
            })
            .await
            .expect("join");
            assert!(pulled.status.success(), "helm pull: {}", String::from_utf8_lossy(&pulled.stderr));
            assert_eq!(std::fs::read_dir(t.path().join("pulled")).expect("dir").count(), 1);
        }
    }
    let _ = stop.send(());
    server.await.expect("join").expect("server");
}
