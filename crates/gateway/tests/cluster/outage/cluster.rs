//! The world an outage test runs in: a private PostgreSQL server and a private Garage, a Berth
//! on them with short timeouts, and the ways a dependency goes away and comes back.

use berth_testkit::pgserver::PgServer;
use berth_testkit::s3::Garage;
use berth_testkit::Berth;

use super::PREFIX;
use crate::BIN;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Dependency {
    Database,
    Storage,
}

/// How the dependency goes away.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum How {
    /// PostgreSQL: fast shutdown. Garage: killed (it has no graceful stop). Connections are
    /// refused until it is started again.
    Stop,
    /// SIGKILL, including every PostgreSQL backend: crash recovery on the next start.
    Crash,
    /// SIGSTOP: connections stay open but nothing answers (a partition, a paused machine).
    /// Kept up for longer than a client waits for an answer, so a request that hangs on the
    /// dependency instead of failing in time is seen as the hang it is.
    Freeze,
}

/// A private PostgreSQL and Garage, and a Berth on them with short timeouts.
pub(super) struct Cluster {
    pg: PgServer,
    pub(super) garage: Garage,
    _garage_dir: tempfile::TempDir,
    pub(super) berth: Berth,
}

impl Cluster {
    pub(super) fn start() -> Cluster {
        let pg = PgServer::init();
        let garage_dir = tempfile::Builder::new()
            .prefix("berth-outage-garage-")
            .tempdir()
            .unwrap();
        let garage = Garage::start_in(garage_dir.path());
        let url = pg.url();
        let mut env: Vec<(String, String)> = garage.berth_env(PREFIX);
        env.extend(
            [
                ("BERTH_DATABASE__URL", url.as_str()),
                ("BERTH_DATABASE__ACQUIRE_TIMEOUT_SECS", "2"),
                ("BERTH_DATABASE__OP_TIMEOUT_SECS", "4"),
                ("BERTH_STORAGE__S3__MAX_ATTEMPTS", "2"),
                ("BERTH_STORAGE__S3__ATTEMPT_TIMEOUT_SECS", "3"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let berth = Berth::start_env(BIN, &env);
        Cluster {
            pg,
            garage,
            _garage_dir: garage_dir,
            berth,
        }
    }

    /// Sends `sig` to the Garage server (its pid file is in its directory).
    fn signal_garage(&self, sig: &str) {
        let pid = std::fs::read_to_string(self._garage_dir.path().join("garage.pid")).unwrap();
        let ok = std::process::Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.trim())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} garage");
    }

    pub(super) fn stop(&mut self, dep: Dependency, how: How) {
        match (dep, how) {
            (Dependency::Database, How::Stop) => self.pg.stop(),
            (Dependency::Database, How::Crash) => self.pg.crash(),
            (Dependency::Database, How::Freeze) => self.pg.freeze(),
            (Dependency::Storage, How::Stop | How::Crash) => self.garage.stop(),
            (Dependency::Storage, How::Freeze) => self.signal_garage("STOP"),
        }
    }

    pub(super) fn start_again(&mut self, dep: Dependency, how: How) {
        match (dep, how) {
            (Dependency::Database, How::Freeze) => self.pg.thaw(),
            (Dependency::Database, _) => self.pg.start(),
            (Dependency::Storage, How::Freeze) => self.signal_garage("CONT"),
            (Dependency::Storage, _) => self.garage.restart(),
        }
    }
}
