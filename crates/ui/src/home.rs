//! `/`: the dashboard of a signed-in user — their organizations (or what to do first when
//! there is none yet), the storage each uses and pushes per day over the last 30 days as
//! server-rendered SVG charts (no chart library in the browser), and the latest pushes. An
//! anonymous visitor sees the public organizations with a sign-in link, or the sign-in form
//! when there are none.

use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use askama::Template;
use berth_auth::manage::{Dashboard, DASHBOARD_ORGS};

use crate::orgs::OrgItem;
use crate::page::{redirect, render, Nav, UiResult};
use crate::size::human_size;
use crate::visitor::{services, Visitor};

/// One bar of a chart, in the SVG's own units, with what it stands for.
pub struct Bar {
    pub label: String,
    pub value: String,
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
}

/// A push as the list shows it.
pub struct PushItem {
    pub at: String,
    pub actor: String,
    pub resource: String,
    /// The repository page of the push.
    pub repo: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    nav: Nav,
    orgs: Vec<OrgItem>,
    more: bool,
    storage: Vec<Bar>,
    storage_height: i64,
    days: Vec<Bar>,
    days_max: i64,
    first_day: String,
    last_day: String,
    pushes: Vec<PushItem>,
}

impl Home {
    /// Nothing but personal namespaces: the "what to do first" state.
    fn starting(&self) -> bool {
        self.orgs.iter().all(|o| o.personal)
    }
}

/// Width of the storage chart's longest bar.
const STORAGE_WIDTH: i64 = 360;
/// Row height of the storage chart.
const ROW: i64 = 24;
/// Height of the pushes chart's tallest bar, and the width of a day.
const DAYS_HEIGHT: i64 = 100;
const DAY_WIDTH: i64 = 18;

fn day_label(day: i64) -> String {
    berth_edge::rfc3339(day * 86_400_000)
        .get(..10)
        .unwrap_or("")
        .to_owned()
}

/// At most 16 characters of `name` for a chart label (the bar's title holds it whole).
fn short_label(name: &str) -> String {
    match name.char_indices().nth(15) {
        Some((i, _)) if name.chars().count() > 16 => format!("{}…", &name[..i]),
        _ => name.to_owned(),
    }
}

fn charts(d: &Dashboard) -> (Vec<Bar>, Vec<Bar>, i64) {
    let max = d.storage.iter().copied().max().unwrap_or(0).max(1);
    let storage = d
        .orgs
        .iter()
        .zip(&d.storage)
        .enumerate()
        .map(|(i, (o, bytes))| Bar {
            label: short_label(&o.name),
            value: human_size(*bytes),
            x: 0,
            y: i as i64 * ROW,
            w: (bytes * STORAGE_WIDTH / max).max(i64::from(*bytes > 0)),
            h: ROW - 6,
        })
        .collect();
    let days_max = d.pushes_per_day.iter().map(|p| p.1).max().unwrap_or(0);
    let days = d
        .pushes_per_day
        .iter()
        .enumerate()
        .map(|(i, (day, n))| {
            let h = if days_max == 0 {
                0
            } else {
                (n * DAYS_HEIGHT / days_max).max(i64::from(*n > 0) * 2)
            };
            Bar {
                label: day_label(*day),
                value: n.to_string(),
                x: i as i64 * DAY_WIDTH,
                y: DAYS_HEIGHT - h,
                w: DAY_WIDTH - 4,
                h,
            }
        })
        .collect();
    (storage, days, days_max)
}

/// `GET /`.
pub async fn home(req: HttpRequest) -> UiResult {
    let (auth, _) = services(&req)?;
    let v = Visitor::of(&req).await?;
    if v.session.is_none() {
        let mut rows = auth
            .list_orgs(&v.caller, "", DASHBOARD_ORGS + 1, "")
            .await?;
        let more = rows.len() as i64 > DASHBOARD_ORGS;
        rows.truncate(DASHBOARD_ORGS as usize);
        if rows.is_empty() {
            return Ok(redirect("/login"));
        }
        let page = Home {
            nav: v.nav(),
            orgs: rows.iter().map(OrgItem::from).collect(),
            more,
            storage: Vec::new(),
            storage_height: 0,
            days: Vec::new(),
            days_max: 0,
            first_day: String::new(),
            last_day: String::new(),
            pushes: Vec::new(),
        };
        return Ok(render(StatusCode::OK, &page));
    }
    let d = auth.dashboard(&v.caller).await?;
    let (storage, days, days_max) = charts(&d);
    let page = Home {
        nav: v.nav(),
        orgs: d.orgs.iter().map(OrgItem::from).collect(),
        more: d.more_orgs,
        storage_height: (storage.len() as i64 * ROW).max(ROW),
        first_day: days.first().map(|b| b.label.clone()).unwrap_or_default(),
        last_day: days.last().map(|b| b.label.clone()).unwrap_or_default(),
        storage,
        days,
        days_max,
        pushes: d
            .recent_pushes
            .iter()
            .map(|e| PushItem {
                at: berth_edge::rfc3339(e.at)
                    .get(..16)
                    .unwrap_or("")
                    .replace('T', " "),
                actor: e.actor.clone(),
                resource: e.resource.clone(),
                repo: e
                    .resource
                    .rsplit_once(':')
                    .map_or(e.resource.clone(), |(r, _)| r.to_owned()),
            })
            .collect(),
    };
    Ok(render(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use berth_auth::manage::Dashboard;
    use berth_auth::rows::OrgRow;

    #[test]
    fn bars_scale_to_the_largest_value() {
        let org = |n: &str| OrgRow {
            id: 1,
            name: n.into(),
            public: false,
            owner: None,
            created_at: 0,
            description: None,
        };
        let d = Dashboard {
            orgs: vec![org("a"), org("b")],
            more_orgs: false,
            storage: vec![2048, 512],
            recent_pushes: Vec::new(),
            pushes_per_day: vec![(20_000, 0), (20_001, 4), (20_002, 1)],
        };
        let (storage, days, max) = super::charts(&d);
        assert_eq!(storage[0].w, super::STORAGE_WIDTH);
        assert_eq!(storage[1].w, super::STORAGE_WIDTH / 4);
        assert_eq!(storage[1].value, "512 B");
        assert_eq!(max, 4);
        assert_eq!(days[0].h, 0);
        assert_eq!(days[1].h, super::DAYS_HEIGHT);
        assert_eq!(days[2].h, super::DAYS_HEIGHT / 4);
        assert_eq!(days[1].y, 0);
        assert_eq!(days[0].label, "2024-10-04");
        assert_eq!(
            super::short_label("a-very-long-organization"),
            "a-very-long-org…"
        );
        assert_eq!(super::short_label("short"), "short");
    }
}
