//! Test support shared by the crates' integration tests: a real OVN central (NB and SB
//! `ovsdb-server`s and `ovn-northd`) on unix sockets in a temp dir, and the `ovn-*` tools
//! against it. Test-only: nothing here is part of neutrino.

#![allow(missing_debug_implementations)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Fails in CI when OVN is missing; elsewhere lets the caller skip.
pub fn ovn_available() -> bool {
    let found = ["ovsdb-server", "ovsdb-tool", "ovn-northd", "ovn-nbctl", "ovn-sbctl", "ovn-trace"]
        .iter()
        .all(|b| {
            Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {b}"))
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    if !found && std::env::var("CI").as_deref() == Ok("true") {
        panic!("OVN binaries missing: install ovn-central ovn-host openvswitch-switch");
    }
    found
}

fn schema(name: &str) -> PathBuf {
    ["/usr/share/ovn", "/usr/local/share/ovn"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{name} not found"))
}

/// One OVN central: NB and SB servers and northd, all on unix sockets in a temp dir.
pub struct OvnCentral {
    pub dir: tempfile::TempDir,
    nb: Option<Child>,
    sb: Child,
    northd: Child,
}

impl OvnCentral {
    pub fn start() -> OvnCentral {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (db, schema_file) in [("nb", "ovn-nb.ovsschema"), ("sb", "ovn-sb.ovsschema")] {
            let ok = Command::new("ovsdb-tool")
                .args([
                    "create",
                    &format!("{}/{db}.db", d.display()),
                    schema(schema_file).to_str().unwrap(),
                ])
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let nb = Some(Self::server(d, "nb"));
        let sb = Self::server(d, "sb");
        wait_for(&d.join("nb.sock"));
        wait_for(&d.join("sb.sock"));
        let northd = Command::new("ovn-northd")
            .arg(format!("--ovnnb-db=unix:{}/nb.sock", d.display()))
            .arg(format!("--ovnsb-db=unix:{}/sb.sock", d.display()))
            .arg(format!("--pidfile={}/northd.pid", d.display()))
            .arg(format!("--log-file={}/northd.log", d.display()))
            .arg(format!("--unixctl={}/northd.ctl", d.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        OvnCentral { dir, nb, sb, northd }
    }

    fn server(d: &Path, db: &str) -> Child {
        Command::new("ovsdb-server")
            .arg(format!("--remote=punix:{}/{db}.sock", d.display()))
            .arg(format!("--pidfile={}/{db}.pid", d.display()))
            .arg(format!("--log-file={}/{db}.log", d.display()))
            .arg(format!("--unixctl={}/{db}.ctl", d.display()))
            .arg(format!("{}/{db}.db", d.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    pub fn nb_remote(&self) -> String {
        format!("unix:{}/nb.sock", self.dir.path().display())
    }

    pub fn sb_remote(&self) -> String {
        format!("unix:{}/sb.sock", self.dir.path().display())
    }

    /// Stops the NB server (the database file stays).
    pub fn stop_nb(&mut self) {
        if let Some(mut c) = self.nb.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(self.dir.path().join("nb.sock"));
    }

    /// Starts the NB server again on the same file; with `empty`, on a new empty database.
    pub fn start_nb(&mut self, empty: bool) {
        let d = self.dir.path();
        if empty {
            let file = d.join("nb.db");
            std::fs::remove_file(&file).unwrap();
            let ok = Command::new("ovsdb-tool")
                .args([
                    "create",
                    file.to_str().unwrap(),
                    schema("ovn-nb.ovsschema").to_str().unwrap(),
                ])
                .status()
                .unwrap();
            assert!(ok.success());
        }
        self.nb = Some(Self::server(d, "nb"));
        wait_for(&d.join("nb.sock"));
    }

    /// Runs `ovn-nbctl` against this NB and returns its stdout.
    pub fn nbctl(&self, args: &[&str]) -> String {
        run("ovn-nbctl", &[&format!("--db={}", self.nb_remote())], args)
    }

    /// Runs `ovn-sbctl` against this SB and returns its stdout.
    pub fn sbctl(&self, args: &[&str]) -> String {
        run("ovn-sbctl", &[&format!("--db={}", self.sb_remote())], args)
    }

    /// Runs `ovn-trace` against this SB.
    pub fn trace(&self, datapath: &str, flow: &str) -> String {
        run("ovn-trace", &[&format!("--db={}", self.sb_remote()), "--minimal"], &[datapath, flow])
    }

    /// Runs `ovn-trace` for the first packet of a new connection (conntrack state `new`), which
    /// is what security group ACLs decide on.
    pub fn trace_new(&self, datapath: &str, flow: &str) -> String {
        let db = format!("--db={}", self.sb_remote());
        run("ovn-trace", &[&db, "--minimal", "--ct=new,trk", "--ct=new,trk"], &[datapath, flow])
    }

    /// Waits until northd has compiled the current NB into SB.
    pub fn sync_sb(&self) {
        self.nbctl(&["--wait=sb", "--timeout=30", "sync"]);
    }
}

fn run(bin: &str, pre: &[&str], args: &[&str]) -> String {
    let out = Command::new(bin).args(pre).args(args).output().unwrap();
    assert!(out.status.success(), "{bin} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < Duration::from_secs(20), "{} did not appear", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for OvnCentral {
    fn drop(&mut self) {
        self.stop_nb();
        for c in [&mut self.sb, &mut self.northd] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
