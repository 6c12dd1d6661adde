//! The `berth` binary: the command line over `berth-gateway` (serve, check-config, migrate,
//! rotate-signing-key, ldap-test, probe).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use berth_gateway::Config;

/// Berth: an OCI container registry.
#[derive(Parser)]
#[command(name = "berth", version, about)]
struct Cli {
    /// YAML configuration file (values in `BERTH_…` environment variables override it).
    #[arg(long, short, global = true, env = "BERTH_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry (the default command).
    Serve {
        /// Listen address, overriding http.addr (e.g. 127.0.0.1:0 for a free port).
        #[arg(long)]
        addr: Option<String>,
        /// Data directory for the embedded SQLite database and blob store.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Validate the configuration and print the effective values, secrets redacted.
    CheckConfig,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Start signing tokens with a new key (every replica picks it up within 30 s); tokens
    /// signed with the previous key stay valid until they expire.
    RotateSigningKey,
    /// Test the directory settings (ldap.*): bind as the search account, read the base DNs
    /// and, given a user name, find that user and list their groups.
    LdapTest {
        /// A login name to look up (no password is asked: the user is searched, not bound).
        user: Option<String>,
    },
    /// GET a plain-HTTP URL and exit 0 on a 2xx answer (a container healthcheck
    /// without curl), e.g. `berth probe http://127.0.0.1:5000/readyz`.
    Probe {
        /// The URL to fetch (http only).
        url: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Probe { url }) = &cli.command {
        return match probe(url) {
            Ok(status) if (200..300).contains(&status) => ExitCode::SUCCESS,
            Ok(status) => {
                eprintln!("berth probe: {url} answered {status}");
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("berth probe: {url}: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let mut cfg = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berth: {e}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve {
        addr: None,
        data_dir: None,
    });
    if let Command::Serve { addr, data_dir } = &command {
        if let Some(a) = addr {
            cfg.http.addr = a.clone();
        }
        if let Some(d) = data_dir {
            cfg.data_dir = d.clone();
        }
    }
    berth_gateway::init_tracing(&cfg.log);
    let result = match command {
        Command::CheckConfig => {
            println!("{}", cfg.redacted_yaml());
            Ok(())
        }
        Command::Migrate => berth_gateway::block_on(berth_gateway::migrate(&cfg)),
        Command::RotateSigningKey => {
            berth_gateway::block_on(berth_gateway::rotate_signing_key(&cfg))
        }
        Command::LdapTest { user } => {
            berth_gateway::block_on(berth_gateway::ldap_test(&cfg, user.as_deref()))
        }
        Command::Serve { .. } => berth_gateway::run(cfg),
        Command::Probe { .. } => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("berth: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One HTTP/1.0 GET over a plain TCP connection, with a short timeout; returns the status.
fn probe(url: &str) -> Result<u16, String> {
    use std::io::{Read, Write};
    use std::net::{TcpStream, ToSocketAddrs};
    use std::time::Duration;
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs can be probed")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let hostport = if authority
        .rsplit(':')
        .next()
        .is_some_and(|p| p.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let timeout = Duration::from_secs(3);
    let addr = hostport
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("the host has no address")?;
    let mut conn = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    conn.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(conn, "GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        let n = conn.read(&mut head[got..]).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let line = String::from_utf8_lossy(&head[..got]);
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {line:?}"))
}
