//! `ui.*`: the web UI.

use serde::{Deserialize, Serialize};

/// The web UI served at `/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiSection {
    /// Serve the web UI (`/`, `/login`, `/orgs`, …). The API and `/v2` do not depend on it.
    pub enabled: bool,
    /// The address people reach Berth at, e.g. `https://registry.example.com`. With https,
    /// cookies are `Secure` and `__Host-` prefixed, and form posts must come from exactly this
    /// origin. Empty: the origin is taken from each request (`Host`).
    pub external_url: String,
    /// A signed-in session ends after this many minutes without a request…
    pub session_idle_mins: u64,
    /// …and this many hours after sign-in in any case.
    pub session_max_hours: u64,
}

impl Default for UiSection {
    fn default() -> Self {
        let d = berth_auth::AuthConfig::default();
        UiSection {
            enabled: true,
            external_url: String::new(),
            session_idle_mins: d.session_idle.as_secs() / 60,
            session_max_hours: d.session_max.as_secs() / 3600,
        }
    }
}

impl UiSection {
    pub fn settings(&self) -> berth_ui::UiConfig {
        berth_ui::UiConfig {
            external_url: self.external_url.trim_end_matches('/').to_owned(),
        }
    }
}
