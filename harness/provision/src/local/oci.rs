//! OCI image archives assembled from files on this host — no registry, no
//! Dockerfile, no daemon — for `ctr -n k8s.io images import`.
//!
//! Layers are uncompressed tars (containerd applies them as they are; there
//! is no registry to save bandwidth for). An existing tar (a debootstrap
//! rootfs) is used as a layer unchanged; other layers are written from
//! host files. The archive holds `oci-layout`, `index.json` (with the
//! `io.containerd.image.name` annotation `ctr` names the image by) and the
//! blobs.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest, Sha256};

use super::LocalError;

/// What goes into one layer.
pub enum Layer {
    /// An existing uncompressed tar, used as is.
    Tar(PathBuf),
    /// Host files and directories, each placed at a path in the image.
    Files(Vec<(PathBuf, String)>),
}

/// An image to assemble.
pub struct ImageSpec {
    /// Full reference, e.g. `infraflux.local/cilium:v1.20.2`.
    pub reference: String,
    pub layers: Vec<Layer>,
    pub entrypoint: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    /// The image's `User` (`uid:gid`): a pod with `runAsNonRoot` and no
    /// `runAsUser` starts only when the image names a non-root user.
    pub user: Option<String>,
}

impl ImageSpec {
    /// One static binary at `dst`, optionally its entrypoint.
    pub fn single(reference: String, src: PathBuf, dst: &str, entrypoint: bool, env: Vec<String>) -> ImageSpec {
        ImageSpec {
            reference,
            layers: vec![Layer::Files(vec![(src, dst.to_owned())])],
            entrypoint: if entrypoint { vec![dst.to_owned()] } else { Vec::new() },
            env,
            workdir: None,
            user: None,
        }
    }

    /// 12 hex digits of a digest over everything but the files' contents
    /// (whose changes the caller sees in their ctimes).
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.reference.as_bytes());
        for l in &self.layers {
            match l {
                Layer::Tar(p) => h.update(format!("tar:{}\n", p.display())),
                Layer::Files(v) => {
                    for (src, dst) in v {
                        h.update(format!("file:{}={dst}\n", src.display()));
                    }
                }
            }
        }
        for x in self.entrypoint.iter().chain(&self.env) {
            h.update(format!("{x}\n"));
        }
        h.update(self.workdir.as_deref().unwrap_or("/"));
        if let Some(u) = &self.user {
            h.update(format!("\nuser:{u}"));
        }
        hex::encode(h.finalize())[..12].to_owned()
    }
}

fn err(what: String, e: impl std::fmt::Display) -> LocalError {
    LocalError::Step { step: what, message: e.to_string() }
}

fn sha256_file(path: &Path) -> io::Result<(String, u64)> {
    let mut r = BufReader::new(File::open(path)?);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        n += k as u64;
        h.update(&buf[..k]);
    }
    Ok((hex::encode(h.finalize()), n))
}

fn write_files_layer(files: &[(PathBuf, String)], out: &Path) -> io::Result<()> {
    let mut b = tar::Builder::new(File::create(out)?);
    b.mode(tar::HeaderMode::Deterministic);
    b.follow_symlinks(false);
    for (src, dst) in files {
        let dst = dst.trim_start_matches('/');
        // Parent directories first, so the layer stands alone.
        let mut parent = String::new();
        for part in Path::new(dst).parent().into_iter().flat_map(|p| p.iter()) {
            parent.push_str(&part.to_string_lossy());
            parent.push('/');
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            h.set_mtime(0);
            h.set_cksum();
            b.append_data(&mut h, &parent, io::empty())?;
        }
        if src.is_dir() {
            b.append_dir_all(dst, src)?;
        } else {
            b.append_path_with_name(src, dst)?;
        }
    }
    b.into_inner()?.flush()
}

/// Writes the archive for `spec` at `out` (through a temporary file, so an
/// interrupted build never leaves a half archive under the final name).
pub fn build(spec: &ImageSpec, out: &Path) -> Result<(), LocalError> {
    let work = out.with_extension("work");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(work.join("blobs/sha256")).map_err(|e| err(format!("mkdir {}", work.display()), e))?;
    let mut layers = Vec::new();
    for (i, layer) in spec.layers.iter().enumerate() {
        let tmp = work.join(format!("layer{i}.tar"));
        let src = match layer {
            Layer::Tar(p) => p.clone(),
            Layer::Files(files) => {
                write_files_layer(files, &tmp).map_err(|e| err(format!("{}: layer {i}", spec.reference), e))?;
                tmp.clone()
            }
        };
        let (digest, size) = sha256_file(&src).map_err(|e| err(format!("read {}", src.display()), e))?;
        let blob = work.join("blobs/sha256").join(&digest);
        if src == tmp {
            fs::rename(&tmp, &blob)
        } else {
            fs::hard_link(&src, &blob).or_else(|_| fs::copy(&src, &blob).map(|_| ()))
        }
        .map_err(|e| err(format!("blob {}", blob.display()), e))?;
        layers.push((digest, size));
    }
    let mut image_config = json!({
        "Env": spec.env,
        "Entrypoint": spec.entrypoint,
        "WorkingDir": spec.workdir.clone().unwrap_or_else(|| "/".into()),
    });
    if let Some(u) = &spec.user {
        image_config["User"] = json!(u);
    }
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": image_config,
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|(d, _)| format!("sha256:{d}")).collect::<Vec<_>>()},
        "history": [{"created_by": "infraflux local provider (assembled from host files)"}],
    });
    let blob = |v: &serde_json::Value| -> Result<(String, usize), LocalError> {
        let bytes = serde_json::to_vec(v).map_err(|e| err("encode".into(), e))?;
        let d = hex::encode(Sha256::digest(&bytes));
        fs::write(work.join("blobs/sha256").join(&d), &bytes).map_err(|e| err("write blob".into(), e))?;
        Ok((d, bytes.len()))
    };
    let (cfg_d, cfg_n) = blob(&config)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{cfg_d}"), "size": cfg_n},
        "layers": layers.iter().map(|(d, n)| json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": format!("sha256:{d}"),
            "size": n,
        })).collect::<Vec<_>>(),
    });
    let (man_d, man_n) = blob(&manifest)?;
    let tag = spec.reference.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest");
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{man_d}"),
            "size": man_n,
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {
                "io.containerd.image.name": spec.reference,
                "org.opencontainers.image.ref.name": tag,
            },
        }],
    });
    fs::write(work.join("index.json"), serde_json::to_vec(&index).map_err(|e| err("encode".into(), e))?)
        .map_err(|e| err("write index.json".into(), e))?;
    fs::write(work.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(|e| err("write oci-layout".into(), e))?;
    let tmp_out = out.with_extension("tmp");
    {
        let f = File::create(&tmp_out).map_err(|e| err(format!("create {}", tmp_out.display()), e))?;
        let mut b = tar::Builder::new(f);
        b.mode(tar::HeaderMode::Deterministic);
        b.append_dir_all(".", &work).map_err(|e| err(format!("write {}", tmp_out.display()), e))?;
        b.into_inner().and_then(|mut f| f.flush()).map_err(|e| err(format!("write {}", tmp_out.display()), e))?;
    }
    fs::rename(&tmp_out, out).map_err(|e| err(format!("rename {}", out.display()), e))?;
    let _ = fs::remove_dir_all(&work);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_archive_names_its_image_and_digests_its_blobs() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let bin = dir.path().join("pause");
        fs::write(&bin, b"\x7fELF not really").unwrap_or_else(|e| panic!("{e}"));
        let out = dir.path().join("img.tar");
        let spec = ImageSpec {
            reference: "infraflux.local/pause:3.10".into(),
            layers: vec![Layer::Files(vec![(bin, "/pause".into())])],
            entrypoint: vec!["/pause".into()],
            env: vec![],
            workdir: None,
            user: None,
        };
        build(&spec, &out).unwrap_or_else(|e| panic!("{e}"));
        let mut a = tar::Archive::new(File::open(&out).unwrap_or_else(|e| panic!("{e}")));
        let mut index = None;
        let mut blobs = Vec::new();
        for e in a.entries().unwrap_or_else(|e| panic!("{e}")) {
            let mut e = e.unwrap_or_else(|e| panic!("{e}"));
            let path = e.path().unwrap_or_else(|e| panic!("{e}")).display().to_string();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap_or_else(|e| panic!("{e}"));
            if path.ends_with("index.json") {
                index = Some(serde_json::from_slice::<serde_json::Value>(&data).unwrap_or_else(|e| panic!("{e}")));
            } else if let Some(d) = path.rsplit_once("sha256/").map(|(_, d)| d.to_owned())
                && !d.is_empty()
            {
                assert_eq!(hex::encode(Sha256::digest(&data)), d, "blob {path} is stored under its digest");
                blobs.push(d);
            }
        }
        let index = index.unwrap_or_else(|| panic!("index.json present"));
        assert_eq!(index["manifests"][0]["annotations"]["io.containerd.image.name"], "infraflux.local/pause:3.10");
        assert_eq!(blobs.len(), 3, "layer, config, manifest");
    }
}
