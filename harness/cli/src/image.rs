//! OCI image archive for the probe agent, built in-process: no Dockerfile,
//! no daemon, no registry. The archive is an `oci-archive` (a plain tar of
//! an OCI image layout: `oci-layout`, `index.json`, `blobs/sha256/…`) with a
//! single gzip'd layer holding `/usr/local/bin/infraflux-agent`. Every
//! timestamp, owner and ordering is fixed, so the same binary always yields
//! the same manifest digest; that digest is what pods pin.
//!
//! Load it with `ctr -n k8s.io images import <archive>` (containerd reads
//! the `io.containerd.image.name` annotation), `kind load image-archive`, or
//! `skopeo copy oci-archive:<archive> …`.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub const DEFAULT_REPOSITORY: &str = "localhost/infraflux-agent";
/// Where the binary lives inside the image.
pub const AGENT_PATH: &str = "usr/local/bin/infraflux-agent";
pub const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// All entries get this mtime (the epoch) and the config this creation date.
const FIXED_MTIME: u64 = 0;
const FIXED_CREATED: &str = "1970-01-01T00:00:00Z";

/// `localhost/infraflux-agent:<crate version>`.
pub fn default_reference() -> String {
    format!("{DEFAULT_REPOSITORY}:{}", env!("CARGO_PKG_VERSION"))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    /// Manifest digest, `sha256:<hex>`.
    pub digest: String,
    pub reference: String,
    /// Size of the archive file in bytes.
    pub size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("failed to read agent binary {path}: {source}")]
    ReadBinary {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a Linux ELF executable for a known architecture: {reason}")]
    BadBinary { path: PathBuf, reason: String },
    #[error("invalid image reference {reference:?}: {reason}")]
    BadReference { reference: String, reason: String },
    #[error("failed to write image archive {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to encode image metadata: {0}")]
    Encode(#[from] serde_json::Error),
}

/// `name:tag` split; digests (`@sha256:`) are refused because we are the
/// ones producing the digest.
#[derive(Debug, PartialEq, Eq)]
pub struct Reference {
    pub name: String,
    pub tag: String,
}

pub fn parse_reference(reference: &str) -> Result<Reference, ImageError> {
    let bad = |reason: &str| ImageError::BadReference {
        reference: reference.to_string(),
        reason: reason.to_string(),
    };
    if reference.contains('@') {
        return Err(bad("digests are not allowed; give name:tag"));
    }
    // The tag separator is the last ':' after the last '/', so a registry
    // port (localhost:5000/x) is not mistaken for a tag.
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match reference[slash..].rfind(':') {
        Some(i) => (&reference[..slash + i], &reference[slash + i + 1..]),
        None => return Err(bad("missing tag (expected name:tag)")),
    };
    if name.is_empty() {
        return Err(bad("empty name"));
    }
    let name_ok = name.split('/').all(|c| {
        !c.is_empty()
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-:".contains(&b))
    });
    if !name_ok {
        return Err(bad(
            "name must be lowercase letters, digits, '.', '_', '-' separated by '/'",
        ));
    }
    let tag_ok = !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !tag_ok {
        return Err(bad(
            "tag must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
        ));
    }
    Ok(Reference {
        name: name.to_string(),
        tag: tag.to_string(),
    })
}

/// OCI architecture of an ELF executable, from its header.
pub fn elf_architecture(bytes: &[u8]) -> Result<&'static str, String> {
    if bytes.len() < 20 || &bytes[..4] != b"\x7fELF" {
        return Err("missing ELF magic".to_string());
    }
    if bytes[5] != 1 {
        return Err("only little-endian ELF is supported".to_string());
    }
    match u16::from_le_bytes([bytes[18], bytes[19]]) {
        0x3E => Ok("amd64"),
        0xB7 => Ok("arm64"),
        other => Err(format!("unsupported ELF machine {other:#x}")),
    }
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[derive(Serialize)]
struct Descriptor<'a> {
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    digest: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<IndexAnnotations>,
}

#[derive(Serialize)]
struct IndexAnnotations {
    #[serde(rename = "io.containerd.image.name")]
    containerd_name: String,
    #[serde(rename = "org.opencontainers.image.ref.name")]
    ref_name: String,
}

#[derive(Serialize)]
struct Index<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    manifests: Vec<Descriptor<'a>>,
}

#[derive(Serialize)]
struct Manifest<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    config: Descriptor<'a>,
    layers: Vec<Descriptor<'a>>,
}

#[derive(Serialize)]
struct Config<'a> {
    created: &'a str,
    architecture: &'a str,
    os: &'a str,
    config: ExecConfig<'a>,
    rootfs: RootFs<'a>,
    history: Vec<History<'a>>,
}

#[derive(Serialize)]
struct ExecConfig<'a> {
    #[serde(rename = "Entrypoint")]
    entrypoint: Vec<String>,
    #[serde(rename = "Labels")]
    labels: Labels<'a>,
}

#[derive(Serialize)]
struct Labels<'a> {
    #[serde(rename = "org.opencontainers.image.title")]
    title: &'a str,
    #[serde(rename = "org.opencontainers.image.version")]
    version: &'a str,
}

#[derive(Serialize)]
struct RootFs<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    diff_ids: Vec<String>,
}

#[derive(Serialize)]
struct History<'a> {
    created: &'a str,
    created_by: &'a str,
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(FIXED_MTIME);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// Builds a tar in memory from (path, Some(content)=file / None=dir).
fn tar_bytes(entries: &[(&str, Option<&[u8]>, u32)]) -> io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    b.mode(tar::HeaderMode::Deterministic);
    for (path, content, mode) in entries {
        match content {
            Some(data) => {
                let mut h = header(tar::EntryType::Regular, *mode, data.len() as u64);
                b.append_data(&mut h, path, *data)?;
            }
            None => {
                let mut h = header(tar::EntryType::Directory, *mode, 0);
                b.append_data(&mut h, path, io::empty())?;
            }
        }
    }
    b.into_inner()
}

fn gzip(data: &[u8]) -> io::Result<Vec<u8>> {
    // mtime 0 and no file name in the gzip header keep the blob stable.
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::with_capacity(data.len() / 2), Compression::default());
    enc.write_all(data)?;
    enc.finish()
}

/// Builds the archive at `out` (written to a temporary file beside it and
/// renamed, so a failure never leaves a partial archive behind).
pub fn build_agent_archive(
    binary: &Path,
    out: &Path,
    reference: &str,
) -> Result<ImageInfo, ImageError> {
    let parsed = parse_reference(reference)?;
    let bin = fs::read(binary).map_err(|source| ImageError::ReadBinary {
        path: binary.to_path_buf(),
        source,
    })?;
    let arch = elf_architecture(&bin).map_err(|reason| ImageError::BadBinary {
        path: binary.to_path_buf(),
        reason,
    })?;
    let write_err = |source: io::Error| ImageError::Write {
        path: out.to_path_buf(),
        source,
    };

    let layer_tar = tar_bytes(&[
        ("usr/", None, 0o755),
        ("usr/local/", None, 0o755),
        ("usr/local/bin/", None, 0o755),
        (AGENT_PATH, Some(&bin), 0o755),
    ])
    .map_err(write_err)?;
    let diff_id = format!("sha256:{}", sha256_hex(&layer_tar));
    let layer = gzip(&layer_tar).map_err(write_err)?;
    let layer_hex = sha256_hex(&layer);

    let version = parsed.tag.as_str();
    let config = serde_json::to_vec(&Config {
        created: FIXED_CREATED,
        architecture: arch,
        os: "linux",
        config: ExecConfig {
            entrypoint: vec![format!("/{AGENT_PATH}")],
            labels: Labels {
                title: "infraflux-agent",
                version,
            },
        },
        rootfs: RootFs {
            kind: "layers",
            diff_ids: vec![diff_id],
        },
        history: vec![History {
            created: FIXED_CREATED,
            created_by: "infraflux image::build_agent_archive",
        }],
    })?;
    let config_hex = sha256_hex(&config);

    let manifest = serde_json::to_vec(&Manifest {
        schema_version: 2,
        media_type: MEDIA_MANIFEST,
        config: Descriptor {
            media_type: MEDIA_CONFIG,
            digest: format!("sha256:{config_hex}"),
            size: config.len() as u64,
            annotations: None,
        },
        layers: vec![Descriptor {
            media_type: MEDIA_LAYER,
            digest: format!("sha256:{layer_hex}"),
            size: layer.len() as u64,
            annotations: None,
        }],
    })?;
    let manifest_hex = sha256_hex(&manifest);

    let index = serde_json::to_vec(&Index {
        schema_version: 2,
        media_type: MEDIA_INDEX,
        manifests: vec![Descriptor {
            media_type: MEDIA_MANIFEST,
            digest: format!("sha256:{manifest_hex}"),
            size: manifest.len() as u64,
            annotations: Some(IndexAnnotations {
                containerd_name: reference.to_string(),
                ref_name: parsed.tag.clone(),
            }),
        }],
    })?;

    let config_path = format!("blobs/sha256/{config_hex}");
    let layer_path = format!("blobs/sha256/{layer_hex}");
    let manifest_path = format!("blobs/sha256/{manifest_hex}");
    let mut blobs = [
        (config_path.as_str(), &config),
        (layer_path.as_str(), &layer),
        (manifest_path.as_str(), &manifest),
    ];
    blobs.sort_by(|a, b| a.0.cmp(b.0));
    let mut entries: Vec<(&str, Option<&[u8]>, u32)> = vec![
        (
            "oci-layout",
            Some(br#"{"imageLayoutVersion":"1.0.0"}"#.as_slice()),
            0o644,
        ),
        ("index.json", Some(index.as_slice()), 0o644),
        ("blobs/", None, 0o755),
        ("blobs/sha256/", None, 0o755),
    ];
    for (path, data) in blobs {
        entries.push((path, Some(data.as_slice()), 0o644));
    }
    let archive = tar_bytes(&entries).map_err(write_err)?;

    let tmp = out.with_extension("partial");
    let result = fs::write(&tmp, &archive).and_then(|()| fs::rename(&tmp, out));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(write_err(e));
    }
    Ok(ImageInfo {
        digest: format!("sha256:{manifest_hex}"),
        reference: reference.to_string(),
        size: archive.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(
            parse_reference("localhost/infraflux-agent:0.1.0").unwrap(),
            Reference {
                name: "localhost/infraflux-agent".into(),
                tag: "0.1.0".into()
            }
        );
        assert_eq!(
            parse_reference("localhost:5000/a/b:v1").unwrap().name,
            "localhost:5000/a/b"
        );
        assert!(parse_reference("localhost:5000/a").is_err());
        assert!(parse_reference("Upper/x:1").is_err());
        assert!(parse_reference("x@sha256:00").is_err());
        assert!(parse_reference("x:").is_err());
        assert!(parse_reference("x:-bad").is_err());
        assert!(default_reference().starts_with("localhost/infraflux-agent:"));
    }

    #[test]
    fn elf_machine() {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[5] = 1;
        h[18] = 0x3E;
        assert_eq!(elf_architecture(&h), Ok("amd64"));
        h[18] = 0xB7;
        assert_eq!(elf_architecture(&h), Ok("arm64"));
        assert!(elf_architecture(b"#!/bin/sh\n").is_err());
    }
}
