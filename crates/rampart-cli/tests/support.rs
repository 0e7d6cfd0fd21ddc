//! Running the real binary: `rampart serve` on port 0 (the address read from its "serving on"
//! line), stopped by SIGKILL or SIGTERM, and a small blocking HTTP client.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub fn rampart() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rampart"))
}

/// Runs `rampart ARGS` to completion.
pub fn run(args: &[&str]) -> Output {
    rampart().args(args).output().expect("rampart runs")
}

/// A `rampart serve` process.
pub struct Served {
    pub child: Child,
    pub base: String,
    /// Where its logs (stderr) go.
    pub log: PathBuf,
}

/// Starts `rampart serve --config CONFIG --data-dir DATA --listen 127.0.0.1:0`, logging into
/// `log`, and waits for it to say where it serves.
pub fn serve(config: &Path, data_dir: &Path, log: &Path) -> Served {
    serve_with_env(config, data_dir, log, &[])
}

/// [`serve`] with extra environment variables.
pub fn serve_with_env(config: &Path, data_dir: &Path, log: &Path, env: &[(&str, &str)]) -> Served {
    let mut cmd = rampart();
    cmd.envs(env.iter().copied())
        .arg("serve")
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--listen", "127.0.0.1:0"]);
    spawn_served(cmd, log)
}

/// Spawns a prepared `rampart serve` command, logging into `log`, and waits for it to say
/// where it serves.
pub fn spawn_served(mut cmd: Command, log: &Path) -> Served {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("rampart serve starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Forward the first line, then keep draining so the server never blocks on stdout.
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(tx) = tx.take() {
                let _ = tx.send(line);
            }
        }
    });
    let line = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "rampart serve did not start; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
    };
    let base = line
        .strip_prefix("rampart is serving on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    Served {
        child,
        base,
        log: log.to_path_buf(),
    }
}

impl Served {
    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Sends a signal with `kill -SIG PID`.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.pid()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill -{sig} {}", self.pid());
    }

    /// SIGKILL: no chance to flush anything.
    pub fn crash(mut self) {
        self.child.kill().expect("SIGKILL sent");
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(mut self) -> ExitStatus {
        self.signal("TERM");
        let status = self.child.wait().expect("server exits");
        assert!(status.success(), "clean shutdown: {status}");
        status
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // A failed test must not leave a server behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Status and JSON body of a request; transport errors are `Err`.
pub fn http(method: &str, url: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
    let req = ureq::request(method, url).timeout(Duration::from_secs(20));
    let result = match body {
        Some(b) => req.send_json(b.clone()),
        None => req.call(),
    };
    let resp = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(e.to_string()),
    };
    let status = resp.status();
    let json = resp.into_json().unwrap_or(Value::Null);
    Ok((status, json))
}

pub fn get_json(url: &str) -> Value {
    let (status, body) = http("GET", url, None).expect("server reachable");
    assert_eq!(status, 200, "{url}: {body}");
    body
}

/// Polls `check` every 50 ms until it gives a value, for at most `secs` seconds.
pub fn eventually<T>(secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The repository's root, for `examples/`.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether a peer program the test needs is present. When it is missing the test prints
/// `skipped: WHAT not installed` and should return, unless `RAMPART_REQUIRE_PEERS` is set (as CI
/// sets it), where a missing peer fails the test.
pub fn peer(what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    if std::env::var_os("RAMPART_REQUIRE_PEERS").is_some() {
        panic!("{what} not installed, and RAMPART_REQUIRE_PEERS is set");
    }
    println!("skipped: {what} not installed");
    false
}

/// Whether `python3` can import the `duckdb` module (`pip install duckdb`).
pub fn has_python_duckdb() -> bool {
    Command::new("python3")
        .args(["-c", "import duckdb"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
