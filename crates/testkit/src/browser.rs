//! A real headless Chromium driven over WebDriver (Debian's `chromium` and `chromedriver`),
//! for tests of the web UI: open pages, fill and submit forms, read what the page shows, run a
//! script in the page, take screenshots. The WebDriver protocol is plain JSON over HTTP, spoken
//! here with `reqwest`; each [`Browser`] has its own chromedriver, port and profile.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::tools;

/// The W3C identifier of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a5e6-4cbc2c3d1a2e";

/// One browser session. Dropping it ends the session and stops chromedriver.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless Chromium session.
    /// Panics with an install hint when either is missing.
    pub async fn start() -> Browser {
        let driver_bin = tools::require("chromedriver");
        let chromium = tools::find("chromium")
            .or_else(|| tools::find("chromium-browser"))
            .unwrap_or_else(|| tools::require("chromium"));
        let port = crate::free_port();
        let profile = tempfile::tempdir().unwrap();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--no-first-run",
                         "--disable-quic", "--window-size=1280,900",
                         format!("--user-data-dir={}", profile.path().display())],
            }
        }}});
        let res: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("create a browser session")
            .json()
            .await
            .unwrap();
        let session = res["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {res}"))
            .to_owned();
        Browser {
            driver,
            base,
            session,
            http,
            _profile: profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut r = self.http.request(method.clone(), &url);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let res = r
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = res.status();
        let v: Value = res.json().await.unwrap_or(Value::Null);
        assert!(
            status.is_success(),
            "WebDriver {method} {path}: {status} {v}"
        );
        v["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    /// The address of the page shown.
    pub async fn url(&self) -> String {
        self.get("/url").await.as_str().unwrap_or("").to_owned()
    }

    pub async fn title(&self) -> String {
        self.get("/title").await.as_str().unwrap_or("").to_owned()
    }

    /// The page's HTML as the browser holds it now.
    pub async fn source(&self) -> String {
        self.get("/source").await.as_str().unwrap_or("").to_owned()
    }

    /// The element matching CSS selector `css`, if there is one.
    pub async fn try_find(&self, css: &str) -> Option<String> {
        let url = format!("{}/session/{}/element", self.base, self.session);
        let res = self
            .http
            .post(&url)
            .json(&json!({"using": "css selector", "value": css}))
            .send()
            .await
            .ok()?;
        if !res.status().is_success() {
            return None;
        }
        let v: Value = res.json().await.ok()?;
        let e = &v["value"];
        e[ELEMENT]
            .as_str()
            .or_else(|| e.as_object()?.values().next()?.as_str())
            .map(str::to_owned)
    }

    /// The element matching `css`; panics (with the page's address) when there is none.
    pub async fn find(&self, css: &str) -> String {
        match self.try_find(css).await {
            Some(e) => e,
            None => {
                let text = self
                    .exec(
                        "return document.body ? document.body.innerText : ''",
                        json!([]),
                    )
                    .await;
                panic!(
                    "no element {css:?} on {}; the page reads:\n{text}",
                    self.url().await
                )
            }
        }
    }

    /// The visible text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        let v = self.get(&format!("/element/{e}/text")).await;
        v.as_str().unwrap_or("").to_owned()
    }

    /// Types `value` into the input matching `css` (after clearing it).
    pub async fn fill(&self, css: &str, value: &str) {
        let e = self.find(css).await;
        self.post(&format!("/element/{e}/clear"), json!({})).await;
        self.post(&format!("/element/{e}/value"), json!({ "text": value }))
            .await;
    }

    /// Clicks the element matching `css` (a submit button waits for the next page).
    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.post(&format!("/element/{e}/click"), json!({})).await;
    }

    /// Clicks the element matching `css` and waits until the next page has loaded (a form's
    /// submit button, a link): the current document is marked first, and the wait ends once a
    /// document without the mark is complete.
    pub async fn click_and_wait(&self, css: &str) {
        self.exec("window.__berthOld = true", json!([])).await;
        self.click(css).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let state = self
                .exec(
                    "return (window.__berthOld ? 'old' : '') + document.readyState",
                    json!([]),
                )
                .await;
            if state == "complete" {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no new page after clicking {css:?} (state {state})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `script` (a function body) in the page with `args`; returns its result.
    pub async fn exec(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// The cookies the browser holds for the page's site.
    pub async fn cookies(&self) -> Vec<Value> {
        self.get("/cookie")
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Saves a PNG screenshot of the page to `path`.
    pub async fn screenshot(&self, path: &Path) {
        use base64::Engine;
        let v = self.get("/screenshot").await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or(""))
            .unwrap();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// Removes every cookie (a new visitor in the same browser).
    pub async fn clear_cookies(&self) {
        self.call(reqwest::Method::DELETE, "/cookie", None).await;
    }

    /// Signs in at `berth`'s `/login` form as `user` (after dropping any cookies, so any
    /// earlier session is gone). Whether it worked is the caller's to check.
    pub async fn sign_in(&self, berth: &crate::Berth, user: &str, password: &str) {
        self.clear_cookies().await;
        self.goto(&berth.url("/login")).await;
        self.fill("#name", user).await;
        self.fill("#password", password).await;
        self.click_and_wait("#login-form button[type=submit]").await;
    }
}

impl Drop for Browser {
    /// Ends the WebDriver session (which quits Chromium), then stops chromedriver. Plain
    /// blocking I/O: a drop cannot await.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        let host = self.base.trim_start_matches("http://").to_owned();
        if let Ok(mut s) = std::net::TcpStream::connect(&host) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                s,
                "DELETE /session/{} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            let _ = s.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Where tests put screenshots: `$BERTH_SCREENSHOTS_DIR`, or `target/screenshots` under the
/// build directory.
pub fn screenshots_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("BERTH_SCREENSHOTS_DIR") {
        return PathBuf::from(d);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("screenshots")
}
