//! A private OpenLDAP server (the Debian `slapd` package) per test, for the LDAP directory
//! tests.
//!
//! [`Slapd::start`] writes a `slapd.conf`, a test CA and a server certificate into a temp
//! directory, runs `slapd` in the foreground on two free loopback ports (plain LDAP with
//! StartTLS, and LDAPS), and loads the directory below with `ldapadd` as the root DN, online,
//! so the memberOf overlay maintains `memberOf`. Dropping the [`Slapd`] kills the server and
//! removes the directory. Every instance has its own directory, ports and CA, so tests run in
//! parallel.
//!
//! The directory (`dc=example,dc=org`):
//!
//! | entry | password | groups |
//! |---|---|---|
//! | `uid=alice,ou=people` (cn "Alice Admin", alice@example.org) | [`ALICE_PASSWORD`] `alicepass` | `registry-admins`, `developers` |
//! | `uid=bob,ou=people` (cn "Bob Builder", bob@example.org) | [`BOB_PASSWORD`] `bobpass` | `developers` |
//! | `uid=carol,ou=people` (cn "Carol Reader", carol@example.org) | [`CAROL_PASSWORD`] `carolpass` | `readers` |
//! | `uid=dave,ou=people` (cn "Dave Developer", dave@example.org) | [`DAVE_PASSWORD`] `davepass` | none |
//! | [`SEARCH_DN`] (the service account Berth searches with) | [`SEARCH_PASSWORD`] | |
//! | [`ROOT_DN`] (slapd's rootdn, no entry) | [`ROOT_PASSWORD`] | |
//!
//! Users are `inetOrgPerson` entries with `uid`, `cn`, `sn`, `givenName` and `mail`; groups are
//! `groupOfNames` under [`GROUPS_DN`] whose `member` values are user DNs. With
//! [`SlapdOptions::memberof`] (the default) the memberof and refint overlays are loaded: users
//! carry `memberOf` (an operational attribute: it is returned only when asked for by name);
//! without it, users have no `memberOf` and only the groups' `member` values tell membership.
//!
//! Access: `userPassword` is usable only to authenticate (and by its owner); everything else is
//! readable by [`SEARCH_DN`] and by any authenticated user, and by no anonymous client, so a
//! search that works proves the search account was used.
//!
//! Every BIND slapd receives is logged (log level `stats`); [`Slapd::binds`] and
//! [`Slapd::binds_as`] count them. Starting the server already makes two: an anonymous bind
//! of the readiness probe and one as [`ROOT_DN`] to load the data (and each
//! [`Slapd::add_ldif`] / [`Slapd::modify_ldif`] makes one more as [`ROOT_DN`]), so compare
//! counts before and after the step under test.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::tools;

pub const BASE_DN: &str = "dc=example,dc=org";
pub const PEOPLE_DN: &str = "ou=people,dc=example,dc=org";
pub const GROUPS_DN: &str = "ou=groups,dc=example,dc=org";
pub const SERVICES_DN: &str = "ou=services,dc=example,dc=org";
/// slapd's `rootdn`: may do anything; used to load data.
pub const ROOT_DN: &str = "cn=admin,dc=example,dc=org";
pub const ROOT_PASSWORD: &str = "berth-ldap-root-password";
/// A non-root service account that may read everything but passwords.
pub const SEARCH_DN: &str = "cn=berth,ou=services,dc=example,dc=org";
pub const SEARCH_PASSWORD: &str = "berth-ldap-search-password";

pub const ALICE_PASSWORD: &str = "alicepass";
pub const BOB_PASSWORD: &str = "bobpass";
pub const CAROL_PASSWORD: &str = "carolpass";
pub const DAVE_PASSWORD: &str = "davepass";

/// `(uid, givenName, sn, password)` of the users.
const USERS: [(&str, &str, &str, &str); 4] = [
    ("alice", "Alice", "Admin", ALICE_PASSWORD),
    ("bob", "Bob", "Builder", BOB_PASSWORD),
    ("carol", "Carol", "Reader", CAROL_PASSWORD),
    ("dave", "Dave", "Developer", DAVE_PASSWORD),
];

/// `(cn, member uids)` of the groups.
const GROUPS: [(&str, &[&str]); 3] = [
    ("registry-admins", &["alice"]),
    ("developers", &["alice", "bob"]),
    ("readers", &["carol"]),
];

/// How many times a start is tried with fresh ports when one of them was taken meanwhile.
const START_ATTEMPTS: usize = 5;
/// How long slapd may take to answer a search.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// `uid=<uid>,ou=people,dc=example,dc=org`
pub fn user_dn(uid: &str) -> String {
    format!("uid={uid},{PEOPLE_DN}")
}

/// `cn=<cn>,ou=groups,dc=example,dc=org`
pub fn group_dn(cn: &str) -> String {
    format!("cn={cn},{GROUPS_DN}")
}

/// What the server is configured with.
#[derive(Clone, Copy, Debug)]
pub struct SlapdOptions {
    /// Load the memberof overlay (with refint): users get a `memberOf` attribute. Without
    /// it, membership is only in the groups' `member` values.
    pub memberof: bool,
    /// Refuse simple binds without TLS (`security simple_bind=1`), as a directory that
    /// requires StartTLS or LDAPS does: a plain bind gets `confidentialityRequired` (13).
    /// The server's own loading then uses StartTLS.
    pub require_tls: bool,
}

impl Default for SlapdOptions {
    fn default() -> Self {
        SlapdOptions {
            memberof: true,
            require_tls: false,
        }
    }
}

/// A running (or [stopped](Slapd::stop)) private slapd.
pub struct Slapd {
    child: Option<Child>,
    dir: PathBuf,
    opts: SlapdOptions,
    ldap_port: u16,
    ldaps_port: u16,
    _tmp: tempfile::TempDir,
}

/// How one launch of slapd ended.
enum Launch {
    Ready,
    /// A port was taken between choosing it and slapd binding it.
    PortTaken,
}

impl Slapd {
    /// Starts a server with [`SlapdOptions::default`] (memberOf maintained).
    pub fn start() -> Slapd {
        Self::start_with(SlapdOptions::default())
    }

    /// Starts a server with `opts`, loaded with the directory described in the module doc;
    /// returns once it answers searches. Panics with slapd's log if it does not come up.
    pub fn start_with(opts: SlapdOptions) -> Slapd {
        let slapd = sbin_tool("slapd");
        let tmp = tempfile::Builder::new()
            .prefix("berth-slapd-")
            .tempdir()
            .expect("temp dir");
        let dir = tmp.path().to_owned();
        std::fs::create_dir(dir.join("db")).expect("slapd database dir");
        make_certificates(&dir);
        std::fs::write(dir.join("slapd.conf"), config(&dir, opts)).expect("slapd.conf");
        write_private(&dir.join("root.pw"), ROOT_PASSWORD);

        let mut s = Slapd {
            child: None,
            dir,
            opts,
            ldap_port: 0,
            ldaps_port: 0,
            _tmp: tmp,
        };
        let mut attempt = 1;
        loop {
            (s.ldap_port, s.ldaps_port) = two_free_ports();
            match s.launch(&slapd) {
                Launch::Ready => break,
                Launch::PortTaken if attempt < START_ATTEMPTS => attempt += 1,
                Launch::PortTaken => panic!(
                    "slapd could not bind its ports in {START_ATTEMPTS} attempts:\n{}",
                    s.log_tail(40)
                ),
            }
        }
        s.add_ldif(&directory_ldif());
        s
    }

    /// Runs slapd on the current ports and waits until it answers a search.
    fn launch(&mut self, slapd: &Path) -> Launch {
        let log = std::fs::File::create(self.log_path()).expect("slapd log");
        let log_err = log.try_clone().expect("slapd log");
        let child = Command::new(slapd)
            .arg("-f")
            .arg(self.dir.join("slapd.conf"))
            .arg("-h")
            .arg(format!("{}/ {}/", self.url(), self.ldaps_url()))
            // Any -d keeps slapd in the foreground (so the child is slapd itself and a kill
            // stops it); `stats` logs one line per connection and operation, BINDs with their
            // DN, to stderr.
            .args(["-d", "stats"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", slapd.display()));
        self.child = Some(child);

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                let log = self.log();
                if log.contains("Address already in use") {
                    return Launch::PortTaken;
                }
                panic!(
                    "slapd exited with {status} before answering:\n{}",
                    self.log_tail(40)
                );
            }
            if TcpStream::connect(("127.0.0.1", self.ldap_port)).is_ok() && self.probe() {
                return Launch::Ready;
            }
            if Instant::now() > deadline {
                let tail = self.log_tail(40);
                self.stop();
                panic!(
                    "slapd did not answer on {} within {} s:\n{tail}",
                    self.url(),
                    START_TIMEOUT.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// An anonymous rootDSE search: whether slapd answers.
    fn probe(&self) -> bool {
        self.tool("ldapsearch")
            .args([
                "-x",
                "-H",
                &self.url(),
                "-b",
                "",
                "-s",
                "base",
                "namingContexts",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// `ldap://127.0.0.1:<port>`: plain LDAP; StartTLS is available on it.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.ldap_port)
    }

    /// `ldaps://127.0.0.1:<port>`: LDAP over TLS. The certificate names `localhost` and
    /// `127.0.0.1`, but libldap clients only verify it when connecting to `127.0.0.1`.
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.ldaps_port)
    }

    /// PEM of the CA that signed the server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// PEM of a CA unrelated to the server's certificate: verification against it fails.
    pub fn wrong_ca_file(&self) -> PathBuf {
        self.dir.join("wrong-ca.pem")
    }

    /// Adds the entries of `ldif` (`ldapadd` as [`ROOT_DN`]). Panics with ldapadd's output if
    /// it fails.
    pub fn add_ldif(&self, ldif: &str) {
        self.as_root("ldapadd", ldif);
    }

    /// Applies the changes of `ldif` (`ldapmodify` as [`ROOT_DN`]). Panics with ldapmodify's
    /// output if it fails.
    pub fn modify_ldif(&self, ldif: &str) {
        self.as_root("ldapmodify", ldif);
    }

    /// Adds `n` groups `cn=<prefix>-<i>` (`i` in `0..n`) under [`GROUPS_DN`], each with the
    /// single member `uid=<member_uid>`, in one `ldapadd`.
    pub fn add_groups(&self, prefix: &str, n: usize, member_uid: &str) {
        let member = user_dn(member_uid);
        let ldif: String = (0..n)
            .map(|i| group_ldif(&format!("{prefix}-{i}"), std::slice::from_ref(&member)))
            .collect();
        self.add_ldif(&ldif);
    }

    /// An OpenLDAP client tool for this server: with [`SlapdOptions::require_tls`], one that
    /// upgrades with StartTLS (`-ZZ`) and trusts this server's CA.
    fn tool(&self, tool: &str) -> Command {
        let mut cmd = ldap_tool(tool);
        if self.opts.require_tls {
            // LDAPNOINIT would also ignore the TLS variables; the files it keeps out are
            // overridden by them.
            cmd.env_remove("LDAPNOINIT")
                .env("LDAPRC", "/nonexistent")
                .env("LDAPTLS_CACERT", self.ca_file())
                .env("LDAPTLS_REQCERT", "demand")
                .arg("-ZZ");
        }
        cmd
    }

    fn as_root(&self, tool: &str, ldif: &str) {
        let mut cmd = self.tool(tool);
        cmd.args(["-x", "-H", &self.url(), "-D", ROOT_DN, "-y"])
            .arg(self.dir.join("root.pw"));
        let out = tools::run_with_stdin(&mut cmd, ldif);
        assert!(
            out.status.success(),
            "{tool} failed with {}:\n{}\nLDIF:\n{ldif}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The number of BIND operations slapd logged so far, with any DN (anonymous binds
    /// included), successful or not.
    pub fn binds(&self) -> usize {
        self.bind_dns().len()
    }

    /// The number of BIND operations slapd logged so far with `dn` (compared without case and
    /// without spaces around `,` and `=`), successful or not.
    pub fn binds_as(&self, dn: &str) -> usize {
        let want = normalize_dn(dn);
        self.bind_dns()
            .iter()
            .filter(|d| normalize_dn(d) == want)
            .count()
    }

    /// The DN of each BIND in the log. slapd logs a simple bind as two lines,
    /// `conn=1000 op=0 BIND dn="uid=alice,ou=people,dc=example,dc=org" method=128` when it
    /// receives it and `... BIND dn="..." mech=SIMPLE ...` once the DN is checked; only the
    /// first kind (`method=`, logged for every bind, SASL too) is counted.
    fn bind_dns(&self) -> Vec<String> {
        const MARK: &str = " BIND dn=\"";
        self.log()
            .lines()
            .filter_map(|line| {
                let rest = &line[line.find(MARK)? + MARK.len()..];
                let end = rest.rfind("\" method=")?;
                Some(rest[..end].to_owned())
            })
            .collect()
    }

    /// Everything slapd logged so far (this run).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("slapd.log")
    }

    fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// SIGKILL and wait: an outage. Does nothing once stopped.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        if std::thread::panicking() && self.child.is_some() {
            eprintln!("---- slapd log (last lines) ----\n{}", self.log_tail(60));
        }
        self.stop();
    }
}

/// A tool from /usr/sbin, which is not on every user's PATH.
fn sbin_tool(tool: &str) -> PathBuf {
    if let Some(p) = tools::find(tool) {
        return p;
    }
    let p = Path::new("/usr/sbin").join(tool);
    if p.is_file() {
        return p;
    }
    tools::require(tool)
}

/// An OpenLDAP client tool that ignores ldap.conf, ~/.ldaprc and LDAP* variables: the
/// harness's own commands only talk plain LDAP to its server.
fn ldap_tool(tool: &str) -> Command {
    let mut c = Command::new(tools::require(tool));
    c.env("LDAPNOINIT", "1");
    c
}

/// Two distinct loopback ports that were free a moment ago (both held while choosing).
fn two_free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").expect("free port");
    let b = TcpListener::bind("127.0.0.1:0").expect("free port");
    (
        a.local_addr().expect("port").port(),
        b.local_addr().expect("port").port(),
    )
}

/// Writes a file only its owner may read (ldapadd warns about others).
fn write_private(path: &Path, content: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, content).expect("password file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .expect("password file mode");
}

/// The test CA (`ca.key`, `ca.pem`), the server's key and certificate signed by it
/// (`server.key`, `server.pem`, for `localhost` and `127.0.0.1`) and an unrelated CA
/// (`wrong-ca.pem`). P-256 keys: quick to generate.
fn make_certificates(dir: &Path) {
    let openssl = tools::require("openssl");
    let ca = |name: &str, subject: &str| {
        tools::run_ok(
            Command::new(&openssl)
                .current_dir(dir)
                .args(["req", "-x509", "-nodes", "-days", "30"])
                .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
                .args(["-keyout", &format!("{name}.key")])
                .args(["-out", &format!("{name}.pem")])
                .args(["-subj", subject])
                .args(["-addext", "basicConstraints=critical,CA:TRUE"])
                .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]),
        );
    };
    ca("ca", "/O=Berth tests/CN=Berth test LDAP CA");
    ca("wrong-ca", "/O=Berth tests/CN=Unrelated CA");
    tools::run_ok(
        Command::new(&openssl)
            .current_dir(dir)
            .args(["req", "-new", "-nodes"])
            .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
            .args(["-keyout", "server.key", "-out", "server.csr"])
            .args(["-subj", "/O=Berth tests/CN=localhost"]),
    );
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature\n\
         extendedKeyUsage = serverAuth\n\
         subjectAltName = DNS:localhost, IP:127.0.0.1\n",
    )
    .expect("certificate extensions");
    tools::run_ok(
        Command::new(&openssl)
            .current_dir(dir)
            .args(["x509", "-req", "-days", "30", "-in", "server.csr"])
            .args(["-CA", "ca.pem", "-CAkey", "ca.key"])
            .args(["-CAcreateserial", "-CAserial", "ca.srl"])
            .args(["-extfile", "server.ext", "-out", "server.pem"]),
    );
}

/// `slapd.conf` for a server whose files live in `dir`.
fn config(dir: &Path, opts: SlapdOptions) -> String {
    let d = dir.display();
    let (modules, indexes, overlays) = if opts.memberof {
        (
            "moduleload memberof\nmoduleload refint\n",
            "index member,memberOf eq\n",
            "overlay memberof\n\
             memberof-group-oc groupOfNames\n\
             memberof-member-ad member\n\
             memberof-memberof-ad memberOf\n\
             memberof-refint TRUE\n\
             overlay refint\n\
             refint_attributes member\n",
        )
    } else {
        ("", "index member eq\n", "")
    };
    format!(
        "include /etc/ldap/schema/core.schema\n\
         include /etc/ldap/schema/cosine.schema\n\
         include /etc/ldap/schema/inetorgperson.schema\n\
         modulepath /usr/lib/ldap\n\
         moduleload back_mdb\n\
         {modules}\
         pidfile \"{d}/slapd.pid\"\n\
         argsfile \"{d}/slapd.args\"\n\
         # Nothing to syslog: -d writes the log to stderr.\n\
         loglevel 0\n\
         {security}\
         TLSCACertificateFile \"{d}/ca.pem\"\n\
         TLSCertificateFile \"{d}/server.pem\"\n\
         TLSCertificateKeyFile \"{d}/server.key\"\n\
         database mdb\n\
         maxsize 67108864\n\
         # A test server: no fsync per write.\n\
         dbnosync\n\
         suffix \"{BASE_DN}\"\n\
         rootdn \"{ROOT_DN}\"\n\
         rootpw {root_hash}\n\
         directory \"{d}/db\"\n\
         index objectClass eq\n\
         index uid,cn,mail eq\n\
         {indexes}\
         access to attrs=userPassword\n\
         \x20 by self write\n\
         \x20 by anonymous auth\n\
         \x20 by * none\n\
         access to *\n\
         \x20 by dn.exact=\"{SEARCH_DN}\" read\n\
         \x20 by users read\n\
         \x20 by * none\n\
         {overlays}",
        root_hash = password_hash(ROOT_PASSWORD),
        security = if opts.require_tls {
            "security simple_bind=1\n"
        } else {
            ""
        },
    )
}

/// The directory every server starts with.
fn directory_ldif() -> String {
    let mut ldif = format!(
        "dn: {BASE_DN}\n\
         objectClass: dcObject\n\
         objectClass: organization\n\
         o: Example\n\
         dc: example\n\n\
         dn: {PEOPLE_DN}\n\
         objectClass: organizationalUnit\n\
         ou: people\n\n\
         dn: {GROUPS_DN}\n\
         objectClass: organizationalUnit\n\
         ou: groups\n\n\
         dn: {SERVICES_DN}\n\
         objectClass: organizationalUnit\n\
         ou: services\n\n\
         dn: {SEARCH_DN}\n\
         objectClass: organizationalRole\n\
         objectClass: simpleSecurityObject\n\
         cn: berth\n\
         description: the service account Berth searches the directory with\n\
         userPassword: {}\n\n",
        password_hash(SEARCH_PASSWORD)
    );
    for (uid, given, sn, password) in USERS {
        ldif.push_str(&format!(
            "dn: {dn}\n\
             objectClass: inetOrgPerson\n\
             uid: {uid}\n\
             cn: {given} {sn}\n\
             givenName: {given}\n\
             sn: {sn}\n\
             mail: {uid}@example.org\n\
             userPassword: {hash}\n\n",
            dn = user_dn(uid),
            hash = password_hash(password),
        ));
    }
    for (cn, members) in GROUPS {
        let members: Vec<String> = members.iter().map(|uid| user_dn(uid)).collect();
        ldif.push_str(&group_ldif(cn, &members));
    }
    ldif
}

/// One `groupOfNames` entry (with its trailing blank line).
fn group_ldif(cn: &str, member_dns: &[String]) -> String {
    let mut entry = format!(
        "dn: {}\nobjectClass: groupOfNames\ncn: {cn}\n",
        group_dn(cn)
    );
    for m in member_dns {
        entry.push_str(&format!("member: {m}\n"));
    }
    entry.push('\n');
    entry
}

/// `{SSHA}` hash of one of the fixed passwords, made by `slappasswd` once per process.
fn password_hash(password: &str) -> String {
    static HASHES: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    let hashes = HASHES.get_or_init(|| {
        let slappasswd = sbin_tool("slappasswd");
        let all = [ROOT_PASSWORD, SEARCH_PASSWORD]
            .into_iter()
            .chain(USERS.iter().map(|u| u.3));
        all.map(|p| {
            let out = tools::run_ok(Command::new(&slappasswd).args(["-h", "{SSHA}", "-s", p]));
            let hash = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            assert!(hash.starts_with("{SSHA}"), "slappasswd printed {hash:?}");
            (p, hash)
        })
        .collect()
    });
    hashes
        .iter()
        .find(|(p, _)| *p == password)
        .map(|(_, h)| h.clone())
        .unwrap_or_else(|| panic!("no hash made for password {password:?}"))
}

/// `dn` lower-cased, without spaces around `,` and `=` (as slapd prettifies a bind DN).
fn normalize_dn(dn: &str) -> String {
    dn.split(',')
        .map(|rdn| rdn.split('=').map(str::trim).collect::<Vec<_>>().join("="))
        .collect::<Vec<_>>()
        .join(",")
        .to_lowercase()
}
