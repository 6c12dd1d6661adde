//! Organizations: the list (paged, with the create form), creating one (its name validated as
//! the registry validates it), and an organization's page with its repositories.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use berth_auth::rows::{OrgRow, RepoSummary};
use berth_core::Permission;
use berth_edge::Query;

use crate::page::{redirect, render, Nav, UiResult};
use crate::size::Size;
use crate::visitor::{services, Visitor};

/// Entries per page of the lists here.
const PAGE: i64 = 50;

/// An organization as lists show it.
pub struct OrgItem {
    pub name: String,
    pub public: bool,
    /// A user's personal namespace (named after them).
    pub personal: bool,
}

impl From<&OrgRow> for OrgItem {
    fn from(r: &OrgRow) -> OrgItem {
        OrgItem {
            name: r.name.clone(),
            public: r.public,
            personal: r.owner.is_some(),
        }
    }
}

/// The create form as sent, kept when it is shown again with an error.
#[derive(Default)]
struct NewOrg {
    name: String,
    public: bool,
    error: Option<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "orgs.html")]
struct OrgList {
    nav: Nav,
    /// The search text.
    q: String,
    orgs: Vec<OrgItem>,
    /// The `last` of the next page, when there is one.
    next: Option<String>,
    form: NewOrg,
}

impl OrgList {
    fn field_error(&self, field: &str) -> Option<&str> {
        match &self.form.error {
            Some((f, m)) if *f == field => Some(m),
            _ => None,
        }
    }
}

/// `GET /orgs[?last=]`.
pub async fn list(req: HttpRequest) -> UiResult {
    list_page(&req, NewOrg::default(), StatusCode::OK).await
}

async fn list_page(req: &HttpRequest, form: NewOrg, status: StatusCode) -> UiResult {
    let (auth, _) = services(req)?;
    let v = Visitor::of(req).await?;
    let q = Query::parse(req.query_string().as_bytes());
    let last = q.get("last").unwrap_or("");
    let search = q.get("q").unwrap_or("").trim().to_owned();
    let mut rows = auth.list_orgs(&v.caller, last, PAGE + 1, &search).await?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let next = more.then(|| rows.last().map(|r| r.name.clone())).flatten();
    let page = OrgList {
        nav: v.nav(),
        q: search,
        orgs: rows.iter().map(OrgItem::from).collect(),
        next,
        form,
    };
    Ok(render(status, &page))
}

/// `POST /orgs` (`name`, `public`, `csrf`): creates the organization and opens its page; a
/// refused name shows the list again with the error beside the field and the input kept.
pub async fn create(req: HttpRequest, body: web::Bytes) -> UiResult {
    let (auth, _) = services(&req)?;
    let v = Visitor::of(&req).await?;
    let form = Query::parse(&body);
    v.check_form(&req, &form)?;
    let name = form.get("name").unwrap_or("").trim().to_owned();
    let public = form.get("public").is_some_and(|p| p == "true" || p == "on");
    match auth.create_org(&v.caller, &name, public).await {
        Ok(org) => Ok(redirect(&format!("/orgs/{}", org.name))),
        Err(e @ (berth_auth::Error::Invalid { .. } | berth_auth::Error::Conflict(_))) => {
            let status = match e {
                berth_auth::Error::Conflict(_) => StatusCode::CONFLICT,
                _ => StatusCode::BAD_REQUEST,
            };
            let error = Some(("name", e.to_string()));
            list_page(
                &req,
                NewOrg {
                    name,
                    public,
                    error,
                },
                status,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// A repository as the organization's page lists it.
pub struct RepoItem {
    /// The name inside the org (what follows `<org>/`).
    pub short: String,
    pub description: String,
    pub tags: i64,
    pub size: Size,
}

impl From<&RepoSummary> for RepoItem {
    fn from(r: &RepoSummary) -> RepoItem {
        RepoItem {
            short: r
                .name
                .split_once('/')
                .map_or(r.name.clone(), |(_, s)| s.to_owned()),
            description: r.description.clone().unwrap_or_default(),
            tags: r.tag_count,
            size: Size::of(r.size),
        }
    }
}

#[derive(Template)]
#[template(path = "org.html")]
struct OrgPage {
    nav: Nav,
    /// The search text of the repository list.
    q: String,
    org: OrgItem,
    description: String,
    /// Whether the visitor may change the org's settings.
    manage: bool,
    repository_count: i64,
    repos: Vec<RepoItem>,
    next: Option<String>,
    /// Whether the visitor may push, and so create a repository.
    push: bool,
    form: NewRepoForm,
}

/// The create-repository form as sent, kept when it is shown again with an error.
#[derive(Default)]
struct NewRepoForm {
    name: String,
    description: String,
    error: Option<String>,
}

/// `GET /orgs/{org}[?last=&q=]`: the organization and a page of its repositories.
pub async fn show(req: HttpRequest, org: web::Path<String>) -> UiResult {
    org_page(&req, &org, NewRepoForm::default(), StatusCode::OK).await
}

/// `POST /orgs/{org}/repositories` (`name`: the path inside the org, `description`, `csrf`):
/// creates an empty repository and opens its page.
pub async fn create_repo(req: HttpRequest, org: web::Path<String>, body: web::Bytes) -> UiResult {
    let (auth, _) = services(&req)?;
    let v = Visitor::of(&req).await?;
    let q = Query::parse(&body);
    v.check_form(&req, &q)?;
    let mut form = NewRepoForm {
        name: q
            .get("name")
            .unwrap_or("")
            .trim()
            .trim_matches('/')
            .to_owned(),
        description: q.get("description").unwrap_or("").trim().to_owned(),
        error: None,
    };
    let result = match berth_core::RepoName::parse(&format!("{org}/{}", form.name)) {
        Ok(name) => auth
            .create_repository(&v.caller, &name, Some(&form.description))
            .await
            .map(|r| r.name),
        Err(e) => Err(berth_auth::Error::invalid("name", e.to_string())),
    };
    match result {
        Ok(name) => Ok(redirect(&format!("/repositories/{name}"))),
        Err(e @ (berth_auth::Error::Invalid { .. } | berth_auth::Error::Conflict(_))) => {
            let status = match e {
                berth_auth::Error::Conflict(_) => StatusCode::CONFLICT,
                _ => StatusCode::BAD_REQUEST,
            };
            form.error = Some(e.to_string());
            org_page(&req, &org, form, status).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn org_page(req: &HttpRequest, org: &str, form: NewRepoForm, status: StatusCode) -> UiResult {
    let (auth, _) = services(req)?;
    let v = Visitor::of(req).await?;
    let q = Query::parse(req.query_string().as_bytes());
    let last = q.get("last").unwrap_or("");
    let search = q.get("q").unwrap_or("").trim().to_owned();
    let details = auth.org(&v.caller, org).await?;
    let mut rows = auth
        .repositories(&v.caller, &details.org.name, last, PAGE + 1, &search)
        .await?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let next = more.then(|| rows.last().map(|r| r.name.clone())).flatten();
    let may = |p: Permission| {
        let (auth, caller, name) = (&auth, &v.caller, &details.org.name);
        async move { auth.org_access(caller, name, p).await.is_ok() }
    };
    let signed_in = v.session.is_some();
    let manage = signed_in && may(Permission::ManageOrg).await;
    let push = signed_in && may(Permission::Push).await;
    let page = OrgPage {
        nav: v.nav(),
        q: search,
        org: OrgItem::from(&details.org),
        description: details.org.description.clone().unwrap_or_default(),
        manage,
        repository_count: details.repository_count,
        repos: rows.iter().map(RepoItem::from).collect(),
        next,
        push,
        form,
    };
    Ok(render(status, &page))
}
