//! `/`: the dashboard of a signed-in user (their organizations, or what to do first when
//! there is none yet); an anonymous visitor sees the public organizations with a sign-in
//! link, or the sign-in form when there are none.

use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use askama::Template;

use crate::orgs::OrgItem;
use crate::page::{redirect, render, Nav, UiResult};
use crate::visitor::{services, Visitor};

/// Organizations the dashboard lists before "all organizations".
const DASHBOARD_ORGS: i64 = 20;

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    nav: Nav,
    orgs: Vec<OrgItem>,
    more: bool,
}

impl Home {
    /// Nothing but personal namespaces: the "what to do first" state.
    fn starting(&self) -> bool {
        self.orgs.iter().all(|o| o.personal)
    }
}

/// `GET /`.
pub async fn home(req: HttpRequest) -> UiResult {
    let (auth, _) = services(&req)?;
    let v = Visitor::of(&req).await?;
    let mut rows = auth
        .list_orgs(&v.caller, "", DASHBOARD_ORGS + 1, "")
        .await?;
    let more = rows.len() as i64 > DASHBOARD_ORGS;
    rows.truncate(DASHBOARD_ORGS as usize);
    if v.session.is_none() && rows.is_empty() {
        return Ok(redirect("/login"));
    }
    let page = Home {
        nav: v.nav(),
        orgs: rows.iter().map(OrgItem::from).collect(),
        more,
    };
    Ok(render(StatusCode::OK, &page))
}
