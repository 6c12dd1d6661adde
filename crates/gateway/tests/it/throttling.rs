//! Failed logins are throttled per account and per source, also behind a trusted proxy, and
//! the throttle shows in the audit log.

use berth_testkit::{basic, header, TestApp};
use serde_json::Value;

use crate::BIN;

#[tokio::test]
async fn failed_logins_are_throttled_per_account_and_source() {
    let app = TestApp::start_env(
        BIN,
        &[
            ("BERTH_AUTH__MAX_FAILURES_PER_ACCOUNT", "3"),
            ("BERTH_AUTH__MAX_FAILURES_PER_SOURCE", "6"),
        ],
    );
    let admin = app.admin();
    let carol = app.user("carol").await;
    let dave = app.user_with_password("dave", "dave-password1").await;
    for _ in 0..3 {
        let (st, _) = app.basic("carol", "wrong-password").token("").await;
        assert_eq!(st, 401);
    }
    // Now even the right password waits.
    let r = carol.get("/auth/token").send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(header(&r, "retry-after").parse::<u64>().unwrap() > 0);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "TOOMANYREQUESTS");
    // Other accounts are unaffected until the source's own limit is reached.
    let (st, _) = dave.token("").await;
    assert_eq!(st, 200);
    for _ in 0..3 {
        app.basic("dave", "wrong-password").token("").await;
    }
    let (st, _) = dave.token("").await;
    assert_eq!(st, 429, "per-source limit");
    // The throttle shows in the audit log.
    let log = admin.api_ok("GET", "/audit-log?action=login", None).await;
    let outcomes: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.contains(&"throttled") && outcomes.contains(&"denied"),
        "{log}"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_throttled_and_audited() {
    let app = TestApp::start_env(
        BIN,
        &[
            (
                "BERTH_AUTH__TRUSTED_PROXIES",
                r#"["127.0.0.1", "10.0.0.0/8"]"#,
            ),
            ("BERTH_AUTH__MAX_FAILURES_PER_ACCOUNT", "0"),
            ("BERTH_AUTH__MAX_FAILURES_PER_SOURCE", "3"),
        ],
    );
    let admin = app.admin();
    let anon = app.anonymous();
    app.user("lea").await;
    let token = |pw: &'static str, xff: &'static str| {
        let anon = &anon;
        async move {
            anon.get("/auth/token?service=berth")
                .header("authorization", basic("lea", pw))
                .header("x-forwarded-for", xff)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Client 192.0.2.1 through an inner proxy 10.1.1.1; a spoofed leftmost entry is ignored.
    for _ in 0..3 {
        assert_eq!(
            token("wrong-password", "6.6.6.6, 192.0.2.1, 10.1.1.1").await,
            401
        );
    }
    assert_eq!(token("lea-password", "192.0.2.1, 10.1.1.1").await, 429);
    // Another client behind the same balancer is not locked out.
    assert_eq!(token("lea-password", "192.0.2.2").await, 200);
    let log = admin.api_ok("GET", "/audit-log?action=login", None).await;
    let sources: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["source"].as_str())
        .collect();
    assert!(
        sources.contains(&"192.0.2.1") && sources.contains(&"192.0.2.2"),
        "{sources:?}"
    );
    assert!(!sources.contains(&"6.6.6.6"));
}
