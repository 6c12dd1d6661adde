//! The directory adapter against a real OpenLDAP server (testkit's private slapd): search-then
//! -bind, groups by memberOf and by member, escaping, TLS in its three forms, failover and a
//! server that never answers.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use berth_directory::{DirError, Directory, Membership, Settings};
use berth_testkit::ldap::{
    group_dn, user_dn, Slapd, SlapdOptions, ALICE_PASSWORD, BOB_PASSWORD, CAROL_PASSWORD,
    DAVE_PASSWORD, GROUPS_DN, PEOPLE_DN, SEARCH_DN, SEARCH_PASSWORD,
};

fn settings(url: String) -> Settings {
    Settings {
        urls: vec![url],
        bind_dn: SEARCH_DN.into(),
        bind_password: SEARCH_PASSWORD.into(),
        user_base_dns: vec![PEOPLE_DN.into()],
        group_base_dn: GROUPS_DN.into(),
        admin_group_dn: group_dn("registry-admins"),
        connect_timeout: Duration::from_secs(2),
        operation_timeout: Duration::from_secs(2),
        ..Settings::default()
    }
}

fn names(e: &berth_directory::Entry) -> Vec<String> {
    let mut n: Vec<String> = e.groups.iter().map(|g| g.name.clone()).collect();
    n.sort();
    n
}

fn rejected(r: Result<berth_directory::Entry, DirError>) -> String {
    match r {
        Err(DirError::Rejected(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn search_then_bind_with_memberof() {
    let s = Slapd::start();
    let d = Directory::new(settings(s.url())).unwrap();
    let alice = d.authenticate("alice", ALICE_PASSWORD).await.unwrap();
    assert_eq!(alice.name, "alice");
    assert_eq!(alice.dn, user_dn("alice"));
    assert_eq!(alice.display_name.as_deref(), Some("Alice Admin"));
    assert_eq!(alice.mail.as_deref(), Some("alice@example.org"));
    assert_eq!(names(&alice), ["developers", "registry-admins"]);
    assert!(alice.admin);
    // The login attribute matches without case; the Berth name is the directory's, lowercased.
    let bob = d.authenticate("BOB", BOB_PASSWORD).await.unwrap();
    assert_eq!((bob.name.as_str(), bob.admin), ("bob", false));
    assert_eq!(names(&bob), ["developers"]);
    let dave = d.authenticate("dave", DAVE_PASSWORD).await.unwrap();
    assert!(dave.groups.is_empty());
    assert_eq!(
        s.binds_as(&user_dn("alice")),
        1,
        "one bind as the user per login"
    );

    let why = rejected(d.authenticate("alice", "wrong").await);
    assert!(why.contains("invalid credentials"), "{why}");
    let why = rejected(d.authenticate("nobody", "x").await);
    assert!(why.contains("no directory entries"), "{why}");
    // Another user's password is not alice's.
    rejected(d.authenticate("alice", BOB_PASSWORD).await);

    // lookup reads the entry with the search account only.
    let binds = s.binds_as(&user_dn("carol"));
    let carol = d.lookup("carol").await.unwrap().unwrap();
    assert_eq!(names(&carol), ["readers"]);
    assert_eq!(s.binds_as(&user_dn("carol")), binds);
    assert_eq!(d.lookup("nobody").await.unwrap(), None);
}

#[tokio::test]
async fn nothing_a_user_types_widens_a_search_or_binds_without_a_password() {
    let s = Slapd::start();
    let d = Directory::new(settings(s.url())).unwrap();
    for login in [
        "*",
        "a*",
        "*e",
        "alice)(uid=*",
        "alice)(|(uid=*",
        "(uid=*)",
        "alice\\",
        "al\0ice",
    ] {
        let why = rejected(d.authenticate(login, ALICE_PASSWORD).await);
        assert!(
            why.contains("no directory entries") || why.contains("NUL"),
            "{login:?}: {why}"
        );
    }
    // An empty password never reaches the server: an unauthenticated bind would "succeed".
    let before = s.binds();
    let why = rejected(d.authenticate("alice", "").await);
    assert!(why.contains("empty password"), "{why}");
    assert_eq!(s.binds(), before);
    // Searches escape too: "*" is a literal star, which no name holds.
    assert!(d.search_users("*", 10).await.unwrap().is_empty());
    let hits = d.search_users("ali", 10).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].name, "alice");
    let devs: Vec<_> = d.search_groups("dev", 10).await.unwrap();
    assert_eq!(devs.len(), 1);
    assert_eq!(devs[0].dn, group_dn("developers"));
    assert_eq!(
        d.find_group("readers").await.unwrap().map(|g| g.dn),
        Some(group_dn("readers"))
    );
    assert_eq!(
        d.find_group(&group_dn("developers"))
            .await
            .unwrap()
            .map(|g| g.name),
        Some("developers".into())
    );
    assert_eq!(d.find_group("read*").await.unwrap(), None);
    assert_eq!(d.find_group(&user_dn("alice")).await.unwrap(), None);
}

#[tokio::test]
async fn groups_by_member_without_the_memberof_overlay() {
    let s = Slapd::start_with(SlapdOptions {
        memberof: false,
        ..SlapdOptions::default()
    });
    let mut cfg = settings(s.url());
    // memberOf mode finds nothing on this server; member mode searches the groups.
    let d = Directory::new(cfg.clone()).unwrap();
    assert!(d
        .authenticate("alice", ALICE_PASSWORD)
        .await
        .unwrap()
        .groups
        .is_empty());
    cfg.membership = Membership::Member;
    let d = Directory::new(cfg).unwrap();
    let alice = d.authenticate("alice", ALICE_PASSWORD).await.unwrap();
    assert_eq!(names(&alice), ["developers", "registry-admins"]);
    assert!(alice.admin);
    // Fifty more groups come back from the same single search.
    s.add_groups("team", 50, "bob");
    let bob = d.authenticate("bob", BOB_PASSWORD).await.unwrap();
    assert_eq!(bob.groups.len(), 51);
}

#[tokio::test]
async fn tls_starttls_and_certificates() {
    let s = Slapd::start_with(SlapdOptions {
        require_tls: true,
        ..SlapdOptions::default()
    });
    let ca = s.ca_file().display().to_string();
    // A server that refuses plain simple binds says so.
    let d = Directory::new(settings(s.url())).unwrap();
    match d.authenticate("alice", ALICE_PASSWORD).await {
        Err(DirError::Misconfigured(why)) => {
            assert!(why.contains("requires StartTLS or LDAPS"), "{why}")
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
    // StartTLS and LDAPS with the test CA.
    let mut cfg = settings(s.url());
    cfg.start_tls = true;
    cfg.ca_file = ca.clone();
    let d = Directory::new(cfg.clone()).unwrap();
    assert_eq!(
        d.authenticate("carol", CAROL_PASSWORD).await.unwrap().name,
        "carol"
    );
    let mut ldaps = settings(s.ldaps_url());
    ldaps.ca_file = ca;
    let d = Directory::new(ldaps.clone()).unwrap();
    assert_eq!(
        d.authenticate("bob", BOB_PASSWORD).await.unwrap().name,
        "bob"
    );
    // A CA that did not sign the server's certificate: a configuration error, both ways.
    for mut c in [cfg, ldaps] {
        c.ca_file = s.wrong_ca_file().display().to_string();
        let d = Directory::new(c.clone()).unwrap();
        match d.authenticate("bob", BOB_PASSWORD).await {
            Err(DirError::Misconfigured(why)) => assert!(why.contains("TLS"), "{why}"),
            other => panic!("expected a certificate error, got {other:?}"),
        }
        // verify_cert=false (a test directory only) accepts it.
        c.verify_cert = false;
        let d = Directory::new(c).unwrap();
        assert_eq!(
            d.authenticate("bob", BOB_PASSWORD).await.unwrap().name,
            "bob"
        );
    }
}

#[tokio::test]
async fn the_search_account_password_is_a_configuration_error() {
    let s = Slapd::start();
    let mut cfg = settings(s.url());
    cfg.bind_password = "wrong".into();
    let d = Directory::new(cfg).unwrap();
    let r = d.authenticate("alice", ALICE_PASSWORD).await;
    assert!(matches!(r, Err(DirError::Misconfigured(_))), "{r:?}");
    let r = d.ping().await;
    assert!(matches!(r, Err(DirError::Misconfigured(_))), "{r:?}");
    let mut cfg = settings(s.url());
    cfg.user_base_dns = vec!["ou=nowhere,dc=example,dc=org".into()];
    let r = Directory::new(cfg).unwrap().ping().await;
    match r {
        Err(DirError::Misconfigured(why)) => assert!(why.contains("ou=nowhere"), "{why}"),
        other => panic!("{other:?}"),
    }
    let report = Directory::new(settings(s.url()))
        .unwrap()
        .ping()
        .await
        .unwrap();
    assert_eq!(report.url, s.url());
    assert_eq!(report.bases, [PEOPLE_DN, GROUPS_DN]);
}

#[tokio::test]
async fn failover_and_a_server_that_never_answers() {
    let s = Slapd::start();
    // A port nothing listens on, then the real server: the second answers.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("ldap://{}", l.local_addr().unwrap())
    };
    let mut cfg = settings(dead.clone());
    cfg.urls.push(s.url());
    let d = Directory::new(cfg).unwrap();
    assert_eq!(
        d.authenticate("alice", ALICE_PASSWORD).await.unwrap().name,
        "alice"
    );
    assert_eq!(
        d.ping().await.unwrap().url,
        s.url(),
        "the one that answered is tried first"
    );

    // A listener that accepts and never says a word: unavailable within the timeouts.
    let hang = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cfg = settings(format!("ldap://{}", hang.local_addr().unwrap()));
    cfg.operation_timeout = Duration::from_millis(500);
    cfg.connect_timeout = Duration::from_millis(500);
    let d = Directory::new(cfg).unwrap();
    let started = Instant::now();
    let r = d.authenticate("alice", ALICE_PASSWORD).await;
    assert!(matches!(r, Err(DirError::Unavailable(_))), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded by the timeouts"
    );
    // Every server down: unavailable, naming the last.
    let r = Directory::new(settings(dead))
        .unwrap()
        .authenticate("alice", ALICE_PASSWORD)
        .await;
    assert!(matches!(r, Err(DirError::Unavailable(_))), "{r:?}");
}
