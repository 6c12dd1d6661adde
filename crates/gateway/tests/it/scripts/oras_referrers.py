"""oras-py (0.2.43) against a registry: push an artifact, pull it back, push two referrers.

Usage: oras_referrers.py HOST WORKDIR  (credentials in ORAS_USER / ORAS_PASSWORD)

Works in WORKDIR (oras-py wants pushed files under the current directory) and writes
WORKDIR/result.json with what was pushed; the Rust test makes every assertion.

oras-py 0.2.43 has no `artifactType` parameter (OrasClient.push takes files, manifest_config,
manifest_annotations and subject only), so:
  - the artifact and the first referrer are typed the OCI 1.0 way, by their config media type,
    which the referrers API reports as their artifactType;
  - the second referrer carries an explicit `artifactType`: its manifest is built here and
    uploaded with oras-py's lower-level helpers (upload_blob, upload_manifest).
"""

import hashlib
import json
import os
import sys

import oras.client
import oras.oci

host, work = sys.argv[1], sys.argv[2]
os.chdir(work)

client = oras.client.OrasClient(hostname=host, insecure=True)
# Through the token flow: oras-py answers the registry's Bearer challenge with these.
client.login(
    username=os.environ["ORAS_USER"],
    password=os.environ["ORAS_PASSWORD"],
    hostname=host,
)
repo = f"{host}/art/demo"
target = f"{repo}:v1"

ARTIFACT_CONFIG = "application/vnd.example.artifact.config.v1+json"
SBOM_TYPE = "application/vnd.example.sbom.v1+json"
SIG_TYPE = "application/vnd.example.signature.v1"


def write(name, data):
    with open(name, "wb") as f:
        f.write(data)


# 1. The artifact: one file with a custom media type, manifest annotations, typed config.
write("artifact.txt", b"hello from oras-py\n" * 100)
write("artifact-config.json", b'{"kind":"example"}')
pushed = client.push(
    files=["artifact.txt:application/vnd.example.text"],
    target=target,
    manifest_config=f"artifact-config.json:{ARTIFACT_CONFIG}",
    manifest_annotations={"org.example.purpose": "berth-test", "org.example.n": "1"},
)
subject_digest = pushed.headers.get("Docker-Content-Digest")

# 2. Pull it back.
os.makedirs("out", exist_ok=True)
pulled = client.pull(target=target, outdir="out")
manifest = client.get_manifest(target)

# The subject descriptor from the bytes the registry serves (not from a re-serialization).
raw = client.do_request(
    f"http://{host}/v2/art/demo/manifests/v1",
    "GET",
    headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
)
raw.raise_for_status()
subject = oras.oci.Subject(
    mediaType="application/vnd.oci.image.manifest.v1+json",
    digest="sha256:" + hashlib.sha256(raw.content).hexdigest(),
    size=len(raw.content),
)

# 3. Referrer A through OrasClient.push(subject=...), typed by its config media type.
write("sbom.json", b'{"packages":["busybox"]}')
write("sbom-config.json", b"{}")
ref_a = client.push(
    files=["sbom.json:application/vnd.example.sbom.layer.v1+json"],
    target=f"{repo}:sbom",
    manifest_config=f"sbom-config.json:{SBOM_TYPE}",
    manifest_annotations={"org.example.referrer": "sbom"},
    subject=subject,
)

# 4. Referrer B with an explicit artifactType and the empty config, built by hand and uploaded
# with oras-py's lower-level helpers.
container = client.get_container(f"{repo}:sig")
write("empty.json", b"{}")
empty = {
    "mediaType": "application/vnd.oci.empty.v1+json",
    "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(),
    "size": 2,
}
client._check_200_response(client.upload_blob("empty.json", container, empty))
write("sig.bin", b"not really a signature")
sig_layer = oras.oci.NewLayer("sig.bin", media_type="application/vnd.example.signature.blob")
client._check_200_response(client.upload_blob("sig.bin", container, sig_layer))
ref_b_manifest = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "artifactType": SIG_TYPE,
    "config": empty,
    "layers": [sig_layer],
    "subject": {"mediaType": subject.mediaType, "digest": subject.digest, "size": subject.size},
    "annotations": {"org.example.referrer": "signature"},
}
ref_b = client.upload_manifest(ref_b_manifest, container)
client._check_200_response(ref_b)

result = {
    "subject_digest_header": subject_digest,
    "subject": {"digest": subject.digest, "size": subject.size},
    "pulled": pulled,
    "manifest": manifest,
    "referrer_a": {
        "status": ref_a.status_code,
        "digest": ref_a.headers.get("Docker-Content-Digest"),
        "oci_subject": ref_a.headers.get("OCI-Subject"),
        "artifact_type": SBOM_TYPE,
    },
    "referrer_b": {
        "status": ref_b.status_code,
        "digest": ref_b.headers.get("Docker-Content-Digest"),
        "oci_subject": ref_b.headers.get("OCI-Subject"),
        "artifact_type": SIG_TYPE,
    },
}
write("result.json", json.dumps(result, indent=2).encode())
