//! The referrers API: manifests whose `subject` is a given digest, as an OCI image index.

use actix_web::HttpResponse;
use berth_core::{media, Digest, RepoName};
use serde_json::{json, Value};

use crate::http::{q_enc, Query};
use crate::{OciError, Registry};

/// `GET /v2/<name>/referrers/<digest>[?artifactType=]` — 200 with an image index, never 404
/// for an unknown subject; `OCI-Filters-Applied: artifactType` when filtered; `Link` to the
/// next page when the list does not fit one.
pub async fn list(
    reg: &Registry,
    name: &RepoName,
    digest: &str,
    q: &Query,
) -> Result<HttpResponse, OciError> {
    let subject = Digest::parse(digest)?;
    let artifact_type = q.get("artifactType").filter(|t| !t.is_empty());
    let last = q.get("last").unwrap_or("");
    let page = reg
        .service
        .referrers(name, &subject, artifact_type, last)
        .await?;
    let (rows, more) = (page.items, page.more);

    let manifests: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut d = json!({"mediaType": r.media_type, "digest": r.digest, "size": r.size});
            if let Some(t) = &r.artifact_type {
                d["artifactType"] = json!(t);
            }
            if let Some(a) = r
                .annotations
                .as_deref()
                .and_then(|a| serde_json::from_str::<Value>(a).ok())
            {
                d["annotations"] = a;
            }
            d
        })
        .collect();
    let body = json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": manifests});

    let mut res = HttpResponse::Ok();
    res.content_type(media::OCI_INDEX);
    if let Some(t) = artifact_type {
        res.insert_header(("OCI-Filters-Applied", "artifactType"));
        if more {
            if let Some(l) = rows.last() {
                res.insert_header((
                    "Link",
                    format!(
                        "</v2/{name}/referrers/{subject}?last={}&artifactType={}>; rel=\"next\"",
                        q_enc(&l.digest),
                        q_enc(t)
                    ),
                ));
            }
        }
    } else if more {
        if let Some(l) = rows.last() {
            res.insert_header((
                "Link",
                format!(
                    "</v2/{name}/referrers/{subject}?last={}>; rel=\"next\"",
                    q_enc(&l.digest)
                ),
            ));
        }
    }
    Ok(res.body(body.to_string()))
}
