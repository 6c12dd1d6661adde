//! Writes OCI image layouts (`oci-layout`, `index.json`, `blobs/sha256/…`) of small images
//! made here, so tests need no image from outside. Each layer is an uncompressed tar holding
//! one file whose content tells the images apart.

use std::path::Path;

use serde_json::{json, Value};

use crate::sha256;

/// A blob written into a layout: its descriptor fields.
#[derive(Debug, Clone)]
pub struct Blob {
    pub media_type: String,
    pub digest: String,
    pub size: usize,
}

impl Blob {
    pub fn descriptor(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size})
    }
}

/// An OCI image layout being built in a directory.
pub struct Layout {
    dir: std::path::PathBuf,
    refs: Vec<Value>,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).expect("layout dir");
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
            .expect("oci-layout");
        Layout {
            dir: dir.to_owned(),
            refs: Vec::new(),
        }
    }

    /// Stores `data` as a blob.
    pub fn blob(&self, media_type: &str, data: &[u8]) -> Blob {
        let digest = sha256(data);
        let path = self
            .dir
            .join("blobs/sha256")
            .join(&digest["sha256:".len()..]);
        std::fs::write(path, data).expect("blob");
        Blob {
            media_type: media_type.to_owned(),
            digest,
            size: data.len(),
        }
    }

    /// A single-layer image for `os/arch` whose one file is `path` with `content`.
    pub fn image(&self, os: &str, arch: &str, path: &str, content: &[u8]) -> Blob {
        let layer_bytes = tar_one_file(path, content);
        let layer = self.blob("application/vnd.oci.image.layer.v1.tar", &layer_bytes);
        let config = json!({
            "architecture": arch,
            "os": os,
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
        });
        let config = self.blob(
            "application/vnd.oci.image.config.v1+json",
            config.to_string().as_bytes(),
        );
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config.descriptor(),
            "layers": [layer.descriptor()],
        });
        self.blob(
            "application/vnd.oci.image.manifest.v1+json",
            manifest.to_string().as_bytes(),
        )
    }

    /// An index of `manifests` with their platforms.
    pub fn index(&self, manifests: &[(Blob, &str, &str)]) -> Blob {
        let entries: Vec<Value> = manifests
            .iter()
            .map(|(b, os, arch)| {
                let mut d = b.descriptor();
                d["platform"] = json!({"os": os, "architecture": arch});
                d
            })
            .collect();
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries,
        });
        self.blob(
            "application/vnd.oci.image.index.v1+json",
            index.to_string().as_bytes(),
        )
    }

    /// Names `blob` `tag` in the layout's `index.json`.
    pub fn tag(&mut self, blob: &Blob, tag: &str) {
        let mut d = blob.descriptor();
        d["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        self.refs.push(d);
        let index = json!({"schemaVersion": 2, "manifests": self.refs});
        std::fs::write(self.dir.join("index.json"), index.to_string()).expect("index.json");
    }
}

/// A ustar archive holding one regular file (mode 0755) at `path`.
pub fn tar_one_file(path: &str, content: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    let name = path.trim_start_matches('/').as_bytes();
    assert!(name.len() < 100, "tar name too long");
    h[..name.len()].copy_from_slice(name);
    let octal = |field: &mut [u8], v: u64| {
        let s = format!("{:0width$o}\0", v, width = field.len() - 1);
        field.copy_from_slice(s.as_bytes());
    };
    octal(&mut h[100..108], 0o755);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], content.len() as u64);
    octal(&mut h[136..148], 1_700_000_000);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|b| *b as u64).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}
