//! An organization's robot accounts: the list, creating one (a name, what it may do on which
//! repositories, an expiry) whose secret is shown once with a ready `docker login` line, and
//! revoking one. The rules and the checks are `berth-auth`'s, as for `/api/v1`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use berth_auth::manage::NewRobotSpec;
use berth_auth::now_ms;
use berth_auth::rows::RobotRow;
use berth_core::{Permission, RobotAction, RobotRule};
use berth_edge::Query;

use crate::page::{redirect, render, Nav, UiResult};
use crate::visitor::{registry_host, services, Visitor};

/// Longest expiry the form offers, in days (0 means never).
const MAX_DAYS: u32 = 3650;

/// A robot as the list shows it.
pub struct RobotItem {
    pub name: String,
    pub login: String,
    pub description: String,
    pub permissions: String,
    pub expires: String,
    pub created_by: String,
}

impl From<&RobotRow> for RobotItem {
    fn from(r: &RobotRow) -> RobotItem {
        let rules: Vec<RobotRule> = serde_json::from_str(&r.rules).unwrap_or_default();
        let permissions = rules
            .iter()
            .map(|rule| {
                let actions: Vec<&str> = rule.actions.iter().map(|a| action_name(*a)).collect();
                format!("{} on {}", actions.join(", "), rule.repositories)
            })
            .collect::<Vec<_>>()
            .join("; ");
        RobotItem {
            login: format!("{}+{}", r.org, r.name),
            name: r.name.clone(),
            description: r.description.clone().unwrap_or_default(),
            permissions,
            expires: match r.expires_at {
                Some(t) => berth_edge::rfc3339(t).get(..10).unwrap_or("").to_owned(),
                None => "never".into(),
            },
            created_by: r.created_by.clone().unwrap_or_default(),
        }
    }
}

fn action_name(a: RobotAction) -> &'static str {
    match a {
        RobotAction::Pull => "pull",
        RobotAction::Push => "push",
        RobotAction::Delete => "delete",
    }
}

/// The create form as sent, kept when it is shown again with an error.
struct NewRobot {
    name: String,
    description: String,
    repositories: String,
    pull: bool,
    push: bool,
    delete: bool,
    days: String,
    error: Option<String>,
}

impl Default for NewRobot {
    fn default() -> Self {
        NewRobot {
            name: String::new(),
            description: String::new(),
            repositories: "*".into(),
            pull: true,
            push: false,
            delete: false,
            days: "90".into(),
            error: None,
        }
    }
}

#[derive(Template)]
#[template(path = "robots.html")]
struct RobotsPage {
    nav: Nav,
    org: String,
    manage: bool,
    robots: Vec<RobotItem>,
    form: NewRobot,
}

#[derive(Template)]
#[template(path = "robot_created.html")]
struct CreatedPage {
    nav: Nav,
    org: String,
    login: String,
    secret: String,
    host: String,
}

/// `GET /orgs/{org}/robots` (those who may read the robots).
pub async fn list(req: HttpRequest, org: web::Path<String>) -> UiResult {
    page(&req, &org, NewRobot::default(), StatusCode::OK).await
}

async fn page(req: &HttpRequest, org: &str, form: NewRobot, status: StatusCode) -> UiResult {
    let (auth, _) = services(req)?;
    let v = Visitor::of(req).await?;
    let rows = auth.list_robots(&v.caller, org).await?;
    let manage = auth
        .org_access(&v.caller, org, Permission::ManageRobots)
        .await
        .is_ok();
    let page = RobotsPage {
        nav: v.nav(),
        org: org.to_owned(),
        manage,
        robots: rows.iter().map(RobotItem::from).collect(),
        form,
    };
    Ok(render(status, &page))
}

/// `POST /orgs/{org}/robots` (`name`, `description`, `repositories`, `pull`/`push`/`delete`,
/// `expires_in_days`, `csrf`): creates the robot and shows its secret, this once.
pub async fn create(req: HttpRequest, org: web::Path<String>, body: web::Bytes) -> UiResult {
    let (auth, cfg) = services(&req)?;
    let v = Visitor::of(&req).await?;
    let q = Query::parse(&body);
    v.check_form(&req, &q)?;
    let on = |k: &str| q.get(k).is_some_and(|x| x == "true" || x == "on");
    let form = NewRobot {
        name: q.get("name").unwrap_or("").trim().to_owned(),
        description: q.get("description").unwrap_or("").trim().to_owned(),
        repositories: q.get("repositories").unwrap_or("").trim().to_owned(),
        pull: on("pull"),
        push: on("push"),
        delete: on("delete"),
        days: q.get("expires_in_days").unwrap_or("").trim().to_owned(),
        error: None,
    };
    let spec = match spec_of(&form) {
        Ok(s) => s,
        Err(e) => return refused(&req, &org, form, e).await,
    };
    match auth.create_robot(&v.caller, &org, &spec).await {
        Ok(created) => {
            let host = registry_host(&req, &cfg);
            let page = CreatedPage {
                nav: v.nav(),
                org: org.to_string(),
                login: format!("{}+{}", created.robot.org, created.robot.name),
                secret: created.secret,
                host,
            };
            Ok(render(StatusCode::CREATED, &page))
        }
        Err(e) => refused(&req, &org, form, e).await,
    }
}

/// The spec the form describes, or why it is not one.
fn spec_of(f: &NewRobot) -> Result<NewRobotSpec, berth_auth::Error> {
    let days: u32 = if f.days.is_empty() {
        0
    } else {
        f.days
            .parse()
            .ok()
            .filter(|d| *d <= MAX_DAYS)
            .ok_or_else(|| {
                berth_auth::Error::invalid(
                    "expires_in_days",
                    format!("the expiry is a number of days from 0 (never) to {MAX_DAYS}"),
                )
            })?
    };
    let mut actions = std::collections::BTreeSet::new();
    for (wanted, a) in [
        (f.pull, RobotAction::Pull),
        (f.push, RobotAction::Push),
        (f.delete, RobotAction::Delete),
    ] {
        if wanted {
            actions.insert(a);
        }
    }
    if f.repositories.is_empty() {
        return Err(berth_auth::Error::invalid(
            "repositories",
            "name the repositories (a pattern such as app/* or * for all)",
        ));
    }
    Ok(NewRobotSpec {
        name: f.name.clone(),
        description: (!f.description.is_empty()).then(|| f.description.clone()),
        permissions: vec![RobotRule {
            repositories: f.repositories.clone(),
            actions,
        }],
        expires_at: (days > 0).then(|| now_ms() + i64::from(days) * 86_400_000),
    })
}

/// The list again with `e` above the form and the input kept, for a refusal a person can fix;
/// anything else is an error page.
async fn refused(
    req: &HttpRequest,
    org: &str,
    mut form: NewRobot,
    e: berth_auth::Error,
) -> UiResult {
    let status = match &e {
        berth_auth::Error::Invalid { .. } => StatusCode::BAD_REQUEST,
        berth_auth::Error::Conflict(_) => StatusCode::CONFLICT,
        _ => return Err(e.into()),
    };
    form.error = Some(e.to_string());
    page(req, org, form, status).await
}

/// `POST /orgs/{org}/robots/revoke` (`name`, `csrf`).
pub async fn revoke(req: HttpRequest, org: web::Path<String>, body: web::Bytes) -> UiResult {
    let (auth, _) = services(&req)?;
    let v = Visitor::of(&req).await?;
    let q = Query::parse(&body);
    v.check_form(&req, &q)?;
    auth.delete_robot(&v.caller, &org, q.get("name").unwrap_or(""))
        .await?;
    Ok(redirect(&format!("/orgs/{org}/robots")))
}
