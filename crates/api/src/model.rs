//! What `/api/v1` answers, as typed records: each serializes to the JSON a client reads and
//! describes itself to the OpenAPI document (`utoipa::ToSchema`). Every timestamp is RFC 3339
//! UTC with milliseconds.

use berth_auth::rows::{
    AuditEvent as AuditRow, GroupRow, ManifestSummary as ManifestRow, MemberRow, OrgRow,
    RepoSummary, RobotRow, TagRow, UserRow,
};
use berth_edge::{rfc3339, rfc3339_opt};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A user account.
#[derive(Serialize, ToSchema)]
pub struct User {
    pub name: String,
    pub email: Option<String>,
    /// A system admin.
    pub admin: bool,
    pub disabled: bool,
    /// Where the account comes from: `local`, or `ldap` (a directory account, onboarded at
    /// its first sign-in).
    pub source: String,
    /// Directory accounts: the name and entry DN the directory holds.
    pub display_name: Option<String>,
    pub dn: Option<String>,
    #[schema(format = DateTime, example = "2026-12-05T07:51:37.123Z")]
    pub created_at: String,
}

impl From<&UserRow> for User {
    fn from(u: &UserRow) -> User {
        User {
            name: u.name.clone(),
            email: u.email.clone(),
            admin: u.admin,
            disabled: u.disabled,
            source: u.source.clone(),
            display_name: u.display_name.clone(),
            dn: u.external_dn.clone(),
            created_at: rfc3339(u.created_at),
        }
    }
}

/// An organization: the first path component of its repositories.
#[derive(Serialize, ToSchema)]
pub struct Org {
    pub name: String,
    /// Anyone, signed in or not, may pull from a public org.
    pub public: bool,
    /// The user who created it.
    pub owner: Option<String>,
    /// What it holds, in the owners' words (plain text).
    pub description: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// How many repositories it holds (in the answer to `GET /orgs/{org}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository_count: Option<i64>,
}

impl From<&OrgRow> for Org {
    fn from(o: &OrgRow) -> Org {
        Org {
            name: o.name.clone(),
            public: o.public,
            owner: o.owner.clone(),
            description: o.description.clone(),
            created_at: rfc3339(o.created_at),
            repository_count: None,
        }
    }
}

/// A member of an org: a user or a group, with its role.
#[derive(Serialize, ToSchema)]
pub struct Member {
    /// `user` or `group`.
    pub kind: String,
    pub name: String,
    /// `admin`, `maintainer`, `developer`, `guest` or `limited-guest`.
    pub role: String,
    #[schema(format = DateTime)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

impl From<&MemberRow> for Member {
    fn from(m: &MemberRow) -> Member {
        Member {
            kind: m.kind.clone(),
            name: m.name.clone(),
            role: m.role.clone(),
            created_at: Some(rfc3339(m.created_at)),
        }
    }
}

/// One permission of a robot: actions on the org's repositories whose path matches.
#[derive(Serialize, ToSchema)]
#[schema(as = RobotRule)]
pub struct RobotRuleDoc {
    /// Pattern of repository paths inside the org; `*` matches anything.
    pub repositories: String,
    /// `pull`, `push`, `delete`.
    pub actions: Vec<String>,
}

/// A robot account of an org, named `<org>+<name>`.
#[derive(Serialize, ToSchema)]
pub struct Robot {
    pub name: String,
    pub description: Option<String>,
    #[schema(value_type = Vec<RobotRuleDoc>)]
    pub permissions: Value,
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    pub disabled: bool,
    /// Who created it (`user:<name>`).
    pub created_by: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The secret: in the answer to the create only, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<&RobotRow> for Robot {
    fn from(r: &RobotRow) -> Robot {
        Robot {
            name: format!("{}+{}", r.org, r.name),
            description: r.description.clone(),
            permissions: serde_json::from_str(&r.rules).unwrap_or(Value::Null),
            expires_at: rfc3339_opt(r.expires_at),
            disabled: r.disabled,
            created_by: r.created_by.clone(),
            created_at: rfc3339(r.created_at),
            secret: None,
        }
    }
}

/// A local group and the names of its users.
#[derive(Serialize, ToSchema)]
pub struct Group {
    pub name: String,
    /// The directory group it stands for, if any.
    pub external_dn: Option<String>,
    pub members: Vec<String>,
}

impl From<&(GroupRow, Vec<String>)> for Group {
    fn from((g, m): &(GroupRow, Vec<String>)) -> Group {
        Group {
            name: g.name.clone(),
            external_dn: g.external_dn.clone(),
            members: m.clone(),
        }
    }
}

/// A repository: its description, counts and size.
#[derive(Serialize, ToSchema)]
pub struct Repository {
    pub name: String,
    pub description: Option<String>,
    pub tag_count: i64,
    pub manifest_count: i64,
    /// Bytes of the blobs linked to it (a blob shared with another repository counts in each).
    pub size: i64,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&RepoSummary> for Repository {
    fn from(r: &RepoSummary) -> Repository {
        Repository {
            name: r.name.clone(),
            description: r.description.clone(),
            tag_count: r.tag_count,
            manifest_count: r.manifest_count,
            size: r.size,
            created_at: rfc3339(r.created_at),
        }
    }
}

/// A tag and the manifest it points at.
#[derive(Serialize, ToSchema)]
pub struct Tag {
    pub name: String,
    pub digest: String,
    pub media_type: String,
    /// Bytes a pull of the tag moves: the manifest, its config and layers (for an index, its
    /// child manifests and their blobs, each distinct blob once).
    pub size: i64,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&TagRow> for Tag {
    fn from(t: &TagRow) -> Tag {
        Tag {
            name: t.name.clone(),
            digest: t.digest.clone(),
            media_type: t.media_type.clone(),
            size: t.size,
            updated_at: rfc3339(t.updated_at),
        }
    }
}

/// A manifest of a repository, with the tags on it.
#[derive(Serialize, ToSchema)]
pub struct ManifestSummary {
    pub digest: String,
    pub media_type: String,
    pub artifact_type: Option<String>,
    /// The digest of the manifest it refers to (`subject`), if any.
    pub subject: Option<String>,
    pub size: i64,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub tags: Vec<String>,
}

impl From<&ManifestRow> for ManifestSummary {
    fn from(m: &ManifestRow) -> ManifestSummary {
        ManifestSummary {
            digest: m.digest.clone(),
            media_type: m.media_type.clone(),
            artifact_type: m.artifact_type.clone(),
            subject: m.subject.clone(),
            size: m.size,
            created_at: rfc3339(m.created_at),
            tags: m.tags.clone(),
        }
    }
}

/// One audit event: who did what to what, when, from where, and how it ended.
#[derive(Serialize, ToSchema)]
pub struct AuditEvent {
    /// Newest first; pass the last one seen as `before` for the next page.
    pub id: i64,
    #[schema(format = DateTime)]
    pub at: String,
    /// `user:<name>`, `robot:<org>+<name>` or `anonymous`.
    pub actor: String,
    /// e.g. `login`, `push`, `delete`, `user.create`, `org.member.set`.
    pub action: String,
    pub resource: String,
    pub org: Option<String>,
    pub source: Option<String>,
    /// `ok`, `denied` or `throttled`.
    pub outcome: String,
    /// More about it, e.g. why a directory sign-in was refused (never a secret).
    pub detail: Option<String>,
}

impl From<&AuditRow> for AuditEvent {
    fn from(e: &AuditRow) -> AuditEvent {
        AuditEvent {
            id: e.id,
            at: rfc3339(e.at),
            actor: e.actor.clone(),
            action: e.action.clone(),
            resource: e.resource.clone(),
            org: e.org.clone(),
            source: e.source.clone(),
            outcome: e.outcome.clone(),
            detail: e.detail.clone(),
        }
    }
}

/// The body of every failed `/api/v1` answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What failed.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `UNAUTHORIZED`, `FORBIDDEN`, `NOT_FOUND`, `CONFLICT`, `INVALID`, `TOOMANYREQUESTS`,
    /// `UNAVAILABLE` or `INTERNAL_ERROR`.
    pub code: String,
    pub message: String,
    /// The request field an `INVALID` is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// `list` of rows as records.
pub fn all<'a, R: 'a, T: From<&'a R>>(rows: &'a [R]) -> Vec<T> {
    rows.iter().map(T::from).collect()
}
