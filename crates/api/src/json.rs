//! The JSON shapes of `/api/v1` answers, one function per row type; every timestamp in
//! RFC 3339 UTC.

use berth_auth::rows::*;
use berth_edge::{rfc3339, rfc3339_opt};
use serde_json::{json, Value};

pub fn user(u: &UserRow) -> Value {
    json!({
        "name": u.name,
        "email": u.email,
        "admin": u.admin,
        "disabled": u.disabled,
        "source": u.source,
        "created_at": rfc3339(u.created_at),
    })
}

pub fn org(o: &OrgRow) -> Value {
    json!({"name": o.name, "public": o.public, "owner": o.owner, "created_at": rfc3339(o.created_at)})
}

pub fn member(m: &MemberRow) -> Value {
    json!({"kind": m.kind, "name": m.name, "role": m.role, "created_at": rfc3339(m.created_at)})
}

pub fn robot(r: &RobotRow) -> Value {
    let rules: Value = serde_json::from_str(&r.rules).unwrap_or(Value::Null);
    json!({
        "name": format!("{}+{}", r.org, r.name),
        "description": r.description,
        "permissions": rules,
        "expires_at": rfc3339_opt(r.expires_at),
        "disabled": r.disabled,
        "created_by": r.created_by,
        "created_at": rfc3339(r.created_at),
    })
}

pub fn repo(r: &RepoSummary) -> Value {
    json!({
        "name": r.name,
        "description": r.description,
        "tag_count": r.tag_count,
        "manifest_count": r.manifest_count,
        "size": r.size,
        "created_at": rfc3339(r.created_at),
    })
}

pub fn tag(t: &TagRow) -> Value {
    json!({"name": t.name, "digest": t.digest, "media_type": t.media_type, "size": t.size, "updated_at": rfc3339(t.updated_at)})
}

pub fn manifest(m: &ManifestSummary) -> Value {
    json!({"digest": m.digest, "media_type": m.media_type, "artifact_type": m.artifact_type, "subject": m.subject, "size": m.size, "created_at": rfc3339(m.created_at), "tags": m.tags})
}

pub fn audit_event(e: &AuditEvent) -> Value {
    json!({
        "id": e.id, "at": rfc3339(e.at), "actor": e.actor, "action": e.action,
        "resource": e.resource, "org": e.org, "source": e.source, "outcome": e.outcome,
    })
}
