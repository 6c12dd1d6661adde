//! The private slapd of `berth_testkit::ldap`, checked with OpenLDAP's own clients: the
//! directory, the access rules, memberOf with and without the overlay, StartTLS and LDAPS
//! against the right and a wrong CA, and the BIND counting.

// Helpers abort the test on a failed step, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use berth_testkit::ldap::{
    group_dn, user_dn, Slapd, SlapdOptions, ALICE_PASSWORD, BASE_DN, PEOPLE_DN, ROOT_DN, SEARCH_DN,
    SEARCH_PASSWORD,
};

/// `ldapsearch -x -LLL` against `url`, verifying the server with `ca` only (the
/// environment's own CA settings are overridden), bound as `bind` (anonymous if `None`).
fn ldapsearch(
    url: &str,
    ca: &Path,
    bind: Option<(&str, &str)>,
    extra: &[&str],
    filter_and_attrs: &[&str],
) -> Output {
    let mut cmd = Command::new("ldapsearch");
    cmd.env("LDAPTLS_CACERT", ca)
        .env_remove("LDAPTLS_REQCERT")
        .env_remove("LDAPTLS_CACERTDIR")
        .args(["-x", "-LLL", "-o", "ldif-wrap=no", "-H", url])
        .args(extra);
    if let Some((dn, password)) = bind {
        cmd.args(["-D", dn, "-w", password]);
    }
    cmd.args(["-b", BASE_DN]).args(filter_and_attrs);
    cmd.output().expect("run ldapsearch")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "ldapsearch failed: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const SEARCH: Option<(&str, &str)> = Some((SEARCH_DN, SEARCH_PASSWORD));

#[test]
fn memberof_tls_and_bind_counting() {
    let s = Slapd::start();
    let ca = s.ca_file();
    assert_eq!(s.binds_as(SEARCH_DN), 0);
    assert!(
        s.binds_as(ROOT_DN) >= 1,
        "the data was loaded as the root DN"
    );

    // Plain LDAP as the search account: alice with her groups.
    let out = ok(ldapsearch(
        &s.url(),
        &ca,
        SEARCH,
        &[],
        &["(uid=alice)", "cn", "mail", "memberOf", "userPassword"],
    ));
    assert!(out.contains(&format!("dn: {}", user_dn("alice"))), "{out}");
    assert!(out.contains("cn: Alice Admin"), "{out}");
    assert!(out.contains("mail: alice@example.org"), "{out}");
    assert!(
        out.contains(&format!("memberOf: {}", group_dn("registry-admins"))),
        "{out}"
    );
    assert!(
        out.contains(&format!("memberOf: {}", group_dn("developers"))),
        "{out}"
    );
    assert!(!out.contains("readers"), "{out}");
    assert!(
        !out.contains("userPassword"),
        "passwords are never readable: {out}"
    );

    // StartTLS (required: -ZZ) and LDAPS, verified with the test CA.
    let out = ok(ldapsearch(
        &s.url(),
        &ca,
        SEARCH,
        &["-ZZ"],
        &["(uid=bob)", "memberOf"],
    ));
    assert!(
        out.contains(&format!("memberOf: {}", group_dn("developers"))),
        "{out}"
    );
    let out = ok(ldapsearch(
        &s.ldaps_url(),
        &ca,
        SEARCH,
        &[],
        &["(uid=carol)", "memberOf"],
    ));
    assert!(
        out.contains(&format!("memberOf: {}", group_dn("readers"))),
        "{out}"
    );

    // The unrelated CA: neither LDAPS nor StartTLS gets to bind.
    let wrong = s.wrong_ca_file();
    let o = ldapsearch(&s.ldaps_url(), &wrong, SEARCH, &[], &["(uid=alice)"]);
    assert!(!o.status.success(), "LDAPS with the wrong CA: {}", text(&o));
    let o = ldapsearch(&s.url(), &wrong, SEARCH, &["-ZZ"], &["(uid=alice)"]);
    assert!(
        !o.status.success(),
        "StartTLS with the wrong CA: {}",
        text(&o)
    );

    // Three binds as the search account; the failed handshakes never got to bind.
    assert_eq!(s.binds_as(SEARCH_DN), 3, "{}", s.log());
    assert_eq!(
        s.binds_as(&SEARCH_DN.to_uppercase().replace(',', ", ")),
        3,
        "DNs compare without case and spaces"
    );

    // Anonymous clients may bind but not read; the bind is counted.
    let before = s.binds();
    let anonymous_before = s.binds_as("");
    let o = ldapsearch(&s.url(), &ca, None, &[], &["(uid=alice)"]);
    let out = text(&o);
    assert!(!out.contains("dn: uid=alice"), "anonymous read: {out}");
    assert_eq!(s.binds(), before + 1);
    assert_eq!(s.binds_as(""), anonymous_before + 1);

    // A user binds with her password (and fails with another); both attempts count.
    let out = ok(ldapsearch(
        &s.url(),
        &ca,
        Some((&user_dn("alice"), ALICE_PASSWORD)),
        &[],
        &["(uid=dave)", "cn"],
    ));
    assert!(out.contains("cn: Dave Developer"), "{out}");
    let o = ldapsearch(
        &s.url(),
        &ca,
        Some((&user_dn("alice"), "wrong")),
        &[],
        &["(uid=dave)"],
    );
    assert!(!o.status.success(), "wrong password accepted: {}", text(&o));
    assert_eq!(s.binds_as(&user_dn("alice")), 2);
}

#[test]
fn without_memberof_only_groups_know_members() {
    let s = Slapd::start_with(SlapdOptions {
        memberof: false,
        ..SlapdOptions::default()
    });
    let ca = s.ca_file();
    let out = ok(ldapsearch(
        &s.url(),
        &ca,
        SEARCH,
        &[],
        &["(uid=alice)", "cn", "memberOf"],
    ));
    assert!(out.contains("cn: Alice Admin"), "{out}");
    assert!(!out.contains("memberOf"), "{out}");
    let out = ok(ldapsearch(
        &s.url(),
        &ca,
        SEARCH,
        &[],
        &[&format!("(member={})", user_dn("alice")), "cn"],
    ));
    assert!(out.contains("cn: registry-admins"), "{out}");
    assert!(out.contains("cn: developers"), "{out}");
    assert!(!out.contains("cn: readers"), "{out}");
    assert_eq!(s.binds_as(SEARCH_DN), 2);
}

#[test]
fn add_groups_modify_and_stop() {
    let mut s = Slapd::start();
    let ca = s.ca_file();
    s.add_groups("bench", 50, "dave");
    let out = ok(ldapsearch(
        &s.url(),
        &ca,
        SEARCH,
        &[],
        &["(uid=dave)", "memberOf"],
    ));
    assert_eq!(out.matches("memberOf: ").count(), 50, "{out}");
    assert!(
        out.contains(&format!("memberOf: {}", group_dn("bench-49"))),
        "{out}"
    );

    s.modify_ldif(&format!(
        "dn: {}\nchangetype: modify\nadd: member\nmember: {}\n",
        group_dn("readers"),
        user_dn("bob")
    ));
    s.add_ldif(&format!(
        "dn: uid=erin,{PEOPLE_DN}\nobjectClass: inetOrgPerson\nuid: erin\ncn: Erin\nsn: E\n"
    ));
    let out = ok(ldapsearch(
        &s.url(),
        &ca,
        SEARCH,
        &[],
        &["(|(uid=bob)(uid=erin))", "memberOf"],
    ));
    assert!(
        out.contains(&format!("memberOf: {}", group_dn("readers"))),
        "{out}"
    );
    assert!(out.contains("dn: uid=erin"), "{out}");

    s.stop();
    s.stop();
    let o = ldapsearch(&s.url(), &ca, SEARCH, &[], &["(uid=alice)"]);
    assert!(
        !o.status.success(),
        "a stopped slapd answered: {}",
        text(&o)
    );
}

#[test]
#[should_panic(expected = "ldapadd failed")]
fn add_ldif_failure_panics() {
    let s = Slapd::start_with(SlapdOptions {
        memberof: false,
        ..SlapdOptions::default()
    });
    // Exists already.
    s.add_ldif(&format!(
        "dn: {PEOPLE_DN}\nobjectClass: organizationalUnit\nou: people\n"
    ));
}
