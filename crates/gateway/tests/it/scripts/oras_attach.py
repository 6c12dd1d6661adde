"""oras-py (0.2.43): attach an SBOM to an image already in a registry, as a referrer.

Usage: oras_attach.py HOST REPO TAG WORKDIR  (credentials in ORAS_USER / ORAS_PASSWORD)

Reads the image's manifest bytes as the registry serves them (docker's and OCI's media types
accepted), pushes an SBOM whose manifest names that image as its `subject` (typed the OCI 1.0
way, by its config media type), and prints the referrer's digest; the Rust test checks the rest.
"""

import hashlib
import os
import sys

import oras.client
import oras.oci

host, repo, tag, work = sys.argv[1:5]
os.chdir(work)

SBOM_TYPE = "application/vnd.example.sbom.v1+json"
ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)

client = oras.client.OrasClient(hostname=host, insecure=True)
client.login(
    username=os.environ["ORAS_USER"],
    password=os.environ["ORAS_PASSWORD"],
    hostname=host,
)
raw = client.do_request(
    f"http://{host}/v2/{repo}/manifests/{tag}", "GET", headers={"Accept": ACCEPT}
)
raw.raise_for_status()
subject = oras.oci.Subject(
    mediaType=raw.headers["Content-Type"],
    digest="sha256:" + hashlib.sha256(raw.content).hexdigest(),
    size=len(raw.content),
)

with open("sbom.json", "wb") as f:
    f.write(b'{"packages":["busybox"]}')
with open("sbom-config.json", "wb") as f:
    f.write(b"{}")
pushed = client.push(
    files=["sbom.json:application/vnd.example.sbom.layer.v1+json"],
    target=f"{host}/{repo}:{tag}-sbom",
    manifest_config=f"sbom-config.json:{SBOM_TYPE}",
    subject=subject,
)
if pushed.status_code != 201:
    sys.exit(f"pushing the SBOM answered {pushed.status_code}: {pushed.text}")
print(pushed.headers.get("Docker-Content-Digest"))
