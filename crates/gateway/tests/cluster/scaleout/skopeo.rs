//! (a) An image pushed by skopeo through the balancer (its requests spread over the replicas)
//! is served byte-identical by every replica on its own.

use std::path::Path;

use berth_testkit::clients::{layout, Skopeo};
use berth_testkit::nginx::Nginx;
use berth_testkit::oci::Layout;
use berth_testkit::pseudo_random as bytes;
use berth_testkit::Berth;

use super::{assert_blob, assert_manifest, spread, MIB};

/// (a) skopeo pushes through nginx; each replica alone serves the same manifest and blobs.
pub(super) async fn skopeo_through_the_balancer(lb: &Nginx, replicas: &[Berth]) {
    let tmp = tempfile::Builder::new()
        .prefix("berth-scaleout-")
        .tempdir()
        .unwrap();
    let src = tmp.path().join("src");
    let mut l = Layout::new(&src);
    // 12 MiB in the layer: more than one 5 MiB S3 part.
    let m = l.image("linux", "amd64", "/data.bin", &bytes(0x5c0_9e0, 12 * MIB));
    l.tag(&m, "v1");
    let pushed = layout::closure(&src, &m.digest);
    assert_eq!(pushed.len(), 3, "manifest, config, layer");

    let mut registries: Vec<&str> = replicas.iter().map(|b| b.addr.as_str()).collect();
    registries.push(&lb.addr);
    let sk = Skopeo::new(tmp.path()).login(&registries);
    let oci = |dir: &Path| format!("oci:{}:v1", dir.display());
    sk.copy(
        &["--preserve-digests"],
        &oci(&src),
        &format!("docker://{}/scale/skopeo:v1", lb.addr),
    );
    let (by, _, _) = spread(lb, "/v2/scale/skopeo/");
    eprintln!("(a) skopeo push through nginx: requests answered per replica {by:?}");
    assert!(
        by.len() >= 2,
        "the push did not spread over replicas: {by:?}"
    );

    for (i, b) in replicas.iter().enumerate() {
        let image = format!("docker://{}/scale/skopeo:v1", b.addr);
        let raw = sk.inspect_raw(&image);
        assert!(
            raw == pushed[&m.digest],
            "replica {i}: skopeo inspect --raw is not the pushed manifest"
        );
        let dst = tmp.path().join(format!("pull-{i}"));
        sk.copy(&["--preserve-digests"], &image, &oci(&dst));
        assert_eq!(layout::tagged(&dst, "v1")["digest"], m.digest.as_str());
        let pulled = layout::closure(&dst, &m.digest);
        assert_eq!(
            pulled.keys().collect::<Vec<_>>(),
            pushed.keys().collect::<Vec<_>>(),
            "replica {i}: other blobs"
        );
        for (d, data) in &pushed {
            assert!(pulled[d] == *data, "replica {i}: pulled {d} differs");
            if *d == m.digest {
                assert_manifest(b, "scale/skopeo", "v1", d, data).await;
                assert_manifest(b, "scale/skopeo", d, d, data).await;
            } else {
                assert_blob(b, "scale/skopeo", d, data, "(a)").await;
            }
        }
    }
    eprintln!(
        "(a) every replica served the skopeo image byte-identical ({} blobs, {} bytes)",
        pushed.len(),
        pushed.values().map(Vec::len).sum::<usize>()
    );
}
