//! The registry use-cases driven directly, without HTTP: a real SQLite metadata store and a
//! filesystem blob store, each in a temporary directory.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use berth_content::{Chunk, Error, RegistryConfig, Service};
use berth_core::{media, Algorithm, Digest, Reference, RepoName, Tag};
use berth_meta::{Meta, MetaOptions};
use berth_storage::{BlobStore, FsStore};
use bytes::Bytes;
use futures_util::stream;

type Res = Result<(), Box<dyn std::error::Error>>;

async fn service(
    config: RegistryConfig,
) -> Result<(tempfile::TempDir, Service), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("meta.db").display());
    let meta = Meta::connect(&url, &MetaOptions::default()).await?;
    meta.migrate().await?;
    let store = BlobStore::Fs(FsStore::new(dir.path().join("storage")));
    store.init().await?;
    Ok((dir, Service::new(meta, store, Arc::new(config))))
}

/// A body of `parts` as a stream: the shape any caller (an HTTP payload, an upstream
/// response, a file) hands over.
fn body(parts: &[&[u8]]) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Unpin {
    let parts: Vec<Result<Bytes, Infallible>> = parts
        .iter()
        .map(|p| Ok(Bytes::copy_from_slice(p)))
        .collect();
    stream::iter(parts)
}

fn sha256(data: &[u8]) -> Digest {
    Digest::of(Algorithm::Sha256, data)
}

fn image(config: &Digest, layer: &Digest) -> String {
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config.to_string(), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer.to_string(), "size": 10}]
    })
    .to_string()
}

#[tokio::test]
async fn ingest_put_get_and_delete_without_http() -> Res {
    let (_dir, svc) = service(RegistryConfig::default()).await?;
    let repo = RepoName::parse("acme/app")?;
    let config = b"{}";
    let layer = b"layer-data";
    let (config_d, layer_d) = (sha256(config), sha256(layer));

    // Bytes that do not match the expected digest leave nothing behind.
    let wrong = svc.ingest(&repo, &layer_d, body(&[b"other"]), None).await;
    assert!(
        matches!(wrong, Err(Error::DigestMismatch { .. })),
        "{wrong:?}"
    );
    assert!(matches!(
        svc.blob_size(&repo, &layer_d).await,
        Err(Error::BlobUnknown { .. })
    ));
    assert_eq!(svc.store().blob_len(&layer_d).await?, None);

    // A manifest whose blobs are missing is refused, naming each one.
    let manifest = image(&config_d, &layer_d);
    let v1 = Reference::parse("v1")?;
    let put = svc
        .put_manifest(
            &repo,
            &v1,
            manifest.as_bytes(),
            Some(media::OCI_MANIFEST),
            &[],
        )
        .await;
    match put {
        Err(Error::ReferencesMissing { digests, .. }) => assert_eq!(digests.len(), 2),
        other => panic!("{other:?}"),
    }

    assert_eq!(
        svc.ingest(&repo, &config_d, body(&[config]), Some(2))
            .await?,
        2
    );
    assert_eq!(
        svc.ingest(&repo, &layer_d, body(&[b"layer", b"-data"]), None)
            .await?,
        10
    );
    assert_eq!(svc.blob_size(&repo, &layer_d).await?, 10);

    let put = svc
        .put_manifest(
            &repo,
            &v1,
            manifest.as_bytes(),
            Some(media::OCI_MANIFEST),
            &["latest".to_string()],
        )
        .await?;
    assert_eq!(put.digest, sha256(manifest.as_bytes()));
    assert_eq!(put.tags, ["latest", "v1"]);

    let by_tag = svc.get_manifest(&repo, &v1, &[], true).await?;
    assert_eq!(by_tag.body, manifest.as_bytes());
    assert_eq!(by_tag.media_type, media::OCI_MANIFEST);
    let by_digest = Reference::Digest(put.digest.clone());
    let head = svc.get_manifest(&repo, &by_digest, &[], false).await?;
    assert_eq!(head.digest, put.digest.to_string());
    let docker_only = [media::DOCKER_MANIFEST.to_string()];
    assert!(matches!(
        svc.get_manifest(&repo, &v1, &docker_only, true).await,
        Err(Error::NotAcceptable { .. })
    ));

    // Deletes: a tag, then the manifest with its remaining tag, a blob link, the repository.
    svc.delete_tag(&repo, &Tag::parse("v1")?).await?;
    assert!(matches!(
        svc.get_manifest(&repo, &v1, &[], true).await,
        Err(Error::ManifestUnknown { .. })
    ));
    let latest = Reference::parse("latest")?;
    let row = svc.get_manifest(&repo, &latest, &[], true).await?;
    assert_eq!(row.digest, put.digest.to_string());
    svc.delete_manifest(&repo, &put.digest).await?;
    assert!(matches!(
        svc.get_manifest(&repo, &latest, &[], true).await,
        Err(Error::ManifestUnknown { .. })
    ));
    svc.delete_blob(&repo, &layer_d).await?;
    assert!(matches!(
        svc.blob_size(&repo, &layer_d).await,
        Err(Error::BlobUnknown { .. })
    ));
    assert!(matches!(
        svc.delete_blob(&repo, &layer_d).await,
        Err(Error::BlobUnknown { .. })
    ));
    svc.delete_repository(&repo).await?;
    assert!(matches!(
        svc.blob_size(&repo, &config_d).await,
        Err(Error::BlobUnknown { .. })
    ));
    assert!(matches!(
        svc.delete_tag(&repo, &Tag::parse("latest")?).await,
        Err(Error::RepoUnknown { .. })
    ));
    assert!(matches!(
        svc.delete_repository(&repo).await,
        Err(Error::RepoUnknown { .. })
    ));
    Ok(())
}

#[tokio::test]
async fn upload_sessions_without_http() -> Res {
    let (_dir, svc) = service(RegistryConfig::default()).await?;
    let repo = RepoName::parse("acme/chunks")?;
    let data = b"0123456789abcdef";
    let digest = sha256(data);
    let unknown = |r: Result<_, Error>| matches!(r, Err(Error::UploadUnknown { .. }));

    let started = svc.start_upload(&repo, Algorithm::Sha256).await?;
    assert_eq!(started.size, 0);
    let id = started.id.clone();
    let other = RepoName::parse("acme/other")?;
    assert!(unknown(svc.upload_status(&other, &id).await));

    let mut session = svc.open_upload(&repo, &id).await?;
    assert!(matches!(
        svc.open_upload(&repo, &id).await,
        Err(Error::UploadBusy { .. })
    ));
    let first = Chunk {
        start: Some(0),
        len: Some(10),
    };
    assert_eq!(session.append(first, body(&[&data[..10]])).await?.size, 10);
    let late = Chunk {
        start: Some(4),
        len: Some(6),
    };
    match session.append(late, body(&[&data[10..]])).await {
        Err(Error::OutOfOrder { size, start, .. }) => assert_eq!((size, start), (10, 4)),
        other => panic!("{other:?}"),
    }
    drop(session);
    assert_eq!(svc.upload_status(&repo, &id).await?.size, 10);

    let session = svc.open_upload(&repo, &id).await?;
    let last = Chunk {
        start: Some(10),
        len: Some(6),
    };
    assert_eq!(
        session.finish(&digest, last, body(&[&data[10..]])).await?,
        16
    );
    assert_eq!(svc.blob_size(&repo, &digest).await?, 16);
    assert!(unknown(svc.upload_status(&repo, &id).await));

    // A wrong digest ends the session with nothing linked.
    let u = svc.start_upload(&repo, Algorithm::Sha256).await?;
    let mut s = svc.open_upload(&repo, &u.id).await?;
    s.append(Chunk::default(), body(&[b"abc"])).await?;
    drop(s);
    let s = svc.open_upload(&repo, &u.id).await?;
    let wrong = s.finish(&sha256(b"abd"), Chunk::default(), body(&[])).await;
    assert!(
        matches!(wrong, Err(Error::DigestMismatch { .. })),
        "{wrong:?}"
    );
    assert!(unknown(svc.upload_status(&repo, &u.id).await));
    assert!(matches!(
        svc.blob_size(&repo, &sha256(b"abc")).await,
        Err(Error::BlobUnknown { .. })
    ));

    // Cancel and expiry.
    let u = svc.start_upload(&repo, Algorithm::Sha256).await?;
    svc.open_upload(&repo, &u.id).await?.cancel().await;
    assert!(unknown(svc.upload_status(&repo, &u.id).await));
    let u = svc.start_upload(&repo, Algorithm::Sha256).await?;
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(svc.expire_uploads(Duration::ZERO).await?, 1);
    assert!(unknown(svc.upload_status(&repo, &u.id).await));

    // Mount from a repository holding the blob; nothing from one that does not.
    let dst = RepoName::parse("acme/mounted")?;
    assert!(svc.mount_blob(&dst, &digest, &repo).await?);
    assert_eq!(svc.blob_size(&dst, &digest).await?, 16);
    assert!(!svc.mount_blob(&dst, &sha256(b"none"), &repo).await?);
    Ok(())
}

#[tokio::test]
async fn deletes_can_be_disabled() -> Res {
    let config = RegistryConfig {
        delete_enabled: false,
        ..RegistryConfig::default()
    };
    let (_dir, svc) = service(config).await?;
    let repo = RepoName::parse("acme/kept")?;
    assert!(matches!(svc.deletes_allowed(), Err(Error::DeletesDisabled)));
    assert!(matches!(
        svc.delete_tag(&repo, &Tag::parse("v1")?).await,
        Err(Error::DeletesDisabled)
    ));
    assert!(matches!(
        svc.delete_repository(&repo).await,
        Err(Error::DeletesDisabled)
    ));
    Ok(())
}
