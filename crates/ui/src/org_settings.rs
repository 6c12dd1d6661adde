//! An organization's settings (its admins): visibility and description, and deleting it with
//! its name typed again — refused with a readable message while it holds repositories, unless
//! the admin also asks for the repositories to go (each through the registry's own delete).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use berth_auth::manage::OrgChanges;
use berth_content::Service as Content;
use berth_core::Permission;
use berth_edge::Query;

use crate::page::{redirect, render, Nav, UiResult};
use crate::visitor::{services, Visitor};

#[derive(Template)]
#[template(path = "org_settings.html")]
struct SettingsPage {
    nav: Nav,
    org: String,
    public: bool,
    description: String,
    repository_count: i64,
    error: Option<String>,
}

/// `GET /orgs/{org}/settings` (those who may manage the org).
pub async fn show(req: HttpRequest, org: web::Path<String>) -> UiResult {
    page(&req, &org, None, StatusCode::OK).await
}

async fn page(req: &HttpRequest, org: &str, error: Option<String>, status: StatusCode) -> UiResult {
    let (auth, _) = services(req)?;
    let v = Visitor::of(req).await?;
    v.signed_in()?;
    let row = auth
        .org_access(&v.caller, org, Permission::ManageOrg)
        .await?;
    let details = auth.org(&v.caller, &row.name).await?;
    let page = SettingsPage {
        nav: v.nav(),
        org: row.name.clone(),
        public: row.public,
        description: row.description.clone().unwrap_or_default(),
        repository_count: details.repository_count,
        error,
    };
    Ok(render(status, &page))
}

/// `POST /orgs/{org}/settings` (`public`, `description`, `csrf`).
pub async fn save(req: HttpRequest, org: web::Path<String>, body: web::Bytes) -> UiResult {
    let (auth, _) = services(&req)?;
    let v = Visitor::of(&req).await?;
    let form = Query::parse(&body);
    v.check_form(&req, &form)?;
    let changes = OrgChanges {
        public: Some(form.get("public").is_some_and(|p| p == "true" || p == "on")),
        description: Some(form.get("description").unwrap_or("").trim().to_owned()),
    };
    match auth.update_org(&v.caller, &org, &changes).await {
        Ok(row) => Ok(redirect(&format!("/orgs/{}", row.name))),
        Err(e @ berth_auth::Error::Invalid { .. }) => {
            page(&req, &org, Some(e.to_string()), StatusCode::BAD_REQUEST).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /orgs/{org}/delete` (`confirm`: the org's name typed again, `with_repositories`,
/// `csrf`).
pub async fn delete(
    req: HttpRequest,
    org: web::Path<String>,
    content: web::Data<Content>,
    body: web::Bytes,
) -> UiResult {
    let (auth, _) = services(&req)?;
    let v = Visitor::of(&req).await?;
    let form = Query::parse(&body);
    v.check_form(&req, &form)?;
    if form.get("confirm").map(str::trim) != Some(org.as_str()) {
        let msg = format!("Type {org} to confirm that the organization is to be deleted.");
        return page(&req, &org, Some(msg), StatusCode::BAD_REQUEST).await;
    }
    let cascade = form
        .get("with_repositories")
        .is_some_and(|x| x == "true" || x == "on");
    let result = if cascade {
        auth.delete_org_and_repositories(&v.caller, &org, &content)
            .await
    } else {
        auth.delete_org(&v.caller, &org).await
    };
    match result {
        Ok(()) => Ok(redirect("/orgs")),
        Err(e @ (berth_auth::Error::Conflict(_) | berth_auth::Error::Disabled(_))) => {
            let msg = match e {
                berth_auth::Error::Conflict(_) => format!(
                    "{org} still holds repositories. Delete them first, or tick \"Delete its \
                     repositories too\"."
                ),
                other => other.to_string(),
            };
            page(&req, &org, Some(msg), StatusCode::CONFLICT).await
        }
        Err(e) => Err(e.into()),
    }
}
