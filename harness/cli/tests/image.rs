//! The agent's OCI archive: structure, digests, reproducibility, the
//! layer's contents, and an independent reader (skopeo) accepting it.
#![allow(clippy::expect_used, reason = "test helpers fail the test loudly")]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use infraflux::image::{self, ImageError};
use sha2::{Digest, Sha256};

use infraflux_testkit::lab::agent as common;

/// The real thing to package: the agent binary (built on demand).
fn some_binary() -> std::path::PathBuf {
    common::agent_bin()
}

fn untar(bytes: &[u8]) -> BTreeMap<String, (u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut a = tar::Archive::new(bytes);
    for e in a.entries().expect("tar entries") {
        let mut e = e.expect("tar entry");
        let path = e.path().expect("path").to_string_lossy().into_owned();
        let mode = e.header().mode().expect("mode");
        assert_eq!(
            e.header().mtime().expect("mtime"),
            0,
            "{path} has a non-fixed mtime"
        );
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read entry");
        out.insert(path, (mode, data));
    }
    out
}

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn blob<'a>(files: &'a BTreeMap<String, (u32, Vec<u8>)>, digest: &str) -> &'a [u8] {
    let hexpart = digest.strip_prefix("sha256:").expect("sha256 digest");
    let data = &files
        .get(&format!("blobs/sha256/{hexpart}"))
        .unwrap_or_else(|| panic!("missing blob {digest}"))
        .1;
    assert_eq!(sha(data), digest, "blob content does not match its name");
    data
}

fn json(data: &[u8]) -> serde_json::Value {
    serde_json::from_slice(data).expect("valid JSON")
}

#[test]
fn archive_is_a_valid_reproducible_oci_layout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = some_binary();
    let out = dir.path().join("agent.tar");
    let reference = "localhost/infraflux-agent:test-1";
    let info = image::build_agent_archive(&bin, &out, reference).expect("build archive");
    let bytes = std::fs::read(&out).expect("read archive");
    assert_eq!(info.size, bytes.len() as u64);
    assert_eq!(info.reference, reference);

    let files = untar(&bytes);
    assert_eq!(json(&files["oci-layout"].1)["imageLayoutVersion"], "1.0.0");
    let index = json(&files["index.json"].1);
    assert_eq!(index["schemaVersion"], 2);
    let desc = &index["manifests"][0];
    assert_eq!(desc["digest"], info.digest.as_str());
    assert_eq!(desc["annotations"]["io.containerd.image.name"], reference);
    assert_eq!(
        desc["annotations"]["org.opencontainers.image.ref.name"],
        "test-1"
    );

    let manifest_bytes = blob(&files, &info.digest);
    assert_eq!(desc["size"].as_u64(), Some(manifest_bytes.len() as u64));
    let manifest = json(manifest_bytes);
    assert_eq!(manifest["mediaType"], image::MEDIA_MANIFEST);
    let config_desc = &manifest["config"];
    let config_bytes = blob(
        &files,
        config_desc["digest"].as_str().expect("config digest"),
    );
    assert_eq!(
        config_desc["size"].as_u64(),
        Some(config_bytes.len() as u64)
    );
    let config = json(config_bytes);
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(
        config["config"]["Entrypoint"][0],
        "/usr/local/bin/infraflux-agent"
    );

    let layer_desc = &manifest["layers"][0];
    assert_eq!(layer_desc["mediaType"], image::MEDIA_LAYER);
    let layer_gz = blob(&files, layer_desc["digest"].as_str().expect("layer digest"));
    assert_eq!(layer_desc["size"].as_u64(), Some(layer_gz.len() as u64));
    let mut layer_tar = Vec::new();
    flate2::read::GzDecoder::new(layer_gz)
        .read_to_end(&mut layer_tar)
        .expect("gunzip layer");
    assert_eq!(config["rootfs"]["diff_ids"][0], sha(&layer_tar).as_str());
    let layer = untar(&layer_tar);
    let (mode, content) = &layer[image::AGENT_PATH];
    assert_eq!(mode & 0o7777, 0o755);
    assert_eq!(content, &std::fs::read(&bin).expect("read binary"));

    // Same input, same bytes: the digest is reproducible.
    let again = dir.path().join("again.tar");
    let info2 = image::build_agent_archive(&bin, &again, reference).expect("rebuild");
    assert_eq!(info2.digest, info.digest);
    assert_eq!(std::fs::read(&again).expect("read"), bytes);
}

#[test]
fn bad_inputs_fail_without_leaving_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("x.tar");
    let script = dir.path().join("script.sh");
    std::fs::write(&script, "#!/bin/sh\n").expect("write");
    assert!(matches!(
        image::build_agent_archive(&script, &out, "localhost/a:1"),
        Err(ImageError::BadBinary { .. })
    ));
    assert!(matches!(
        image::build_agent_archive(&dir.path().join("missing"), &out, "localhost/a:1"),
        Err(ImageError::ReadBinary { .. })
    ));
    let err = image::build_agent_archive(&some_binary(), &out, "localhost/A:1")
        .expect_err("bad reference");
    assert!(err.to_string().contains("invalid image reference"), "{err}");
    assert!(matches!(
        image::build_agent_archive(
            &some_binary(),
            &dir.path().join("no/such/dir/x.tar"),
            "localhost/a:1"
        ),
        Err(ImageError::Write { .. })
    ));
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("ls").count(),
        1,
        "only script.sh may remain"
    );
}

/// skopeo (installed by .ci/install-lab-packages) reads the archive with
/// the containers/image library and copies it into a fresh OCI layout,
/// which re-verifies every blob digest.
#[test]
fn skopeo_reads_and_copies_the_archive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("agent.tar");
    let info = image::build_agent_archive(&some_binary(), &out, "localhost/infraflux-agent:skopeo")
        .expect("build");
    let skopeo = infraflux_testkit::lab::find_program("skopeo").unwrap_or_else(|e| panic!("{e}"));
    let src = format!("oci-archive:{}:skopeo", out.display());
    let raw = Command::new(&skopeo)
        .args(["inspect", "--raw", &src])
        .output()
        .expect("run skopeo");
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    assert_eq!(
        sha(&raw.stdout),
        info.digest,
        "skopeo saw a different manifest"
    );
    let inspect = Command::new(&skopeo)
        .args(["inspect", &src])
        .output()
        .expect("run skopeo");
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("json");
    assert_eq!(v["Architecture"], "amd64");
    assert_eq!(v["Digest"], info.digest.as_str());
    let dest = dir.path().join("copy");
    let copy = Command::new(&skopeo)
        .args(["copy", &src, &format!("oci:{}:copied", dest.display())])
        .output()
        .expect("run skopeo copy");
    assert!(
        copy.status.success(),
        "{}",
        String::from_utf8_lossy(&copy.stderr)
    );
    assert!(Path::new(&dest).join("index.json").is_file());
}
