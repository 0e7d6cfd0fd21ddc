//! What the binary tells the shell: every exit code it uses, defined here and nowhere else, the
//! table of them that `--help` and the docs show, the failure type commands return, and writing
//! to stdout so that a closed pipe (`rampart log | head`) ends the process quietly.

use std::fmt;
use std::io::Write;

/// An exit code of `rampart`. Scripts may rely on these numbers; docs/rollouts.md lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success; for `rollout status`: the rollout runs healthy or has completed.
    Ok,
    /// Any other error: a refused request, a bad config file, an unknown name.
    Error,
    /// Bad usage: an unknown flag or subcommand, a missing or malformed argument.
    Usage,
    /// The rollout has been rolled back (or aborted).
    RolledBack,
    /// The rollout waits for a person: paused, awaiting approval, or not started yet.
    Waiting,
    /// `--watch --timeout` passed before the rollout reached a final or waiting state.
    TimedOut,
    /// The server could not be reached, or did not answer within the request timeout.
    Unreachable,
}

impl Exit {
    /// Every code, in the order of the table.
    pub const ALL: [Exit; 7] = [
        Exit::Ok,
        Exit::Error,
        Exit::Usage,
        Exit::RolledBack,
        Exit::Waiting,
        Exit::TimedOut,
        Exit::Unreachable,
    ];

    pub const fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Error => 1,
            Exit::Usage => 2,
            Exit::RolledBack => 3,
            Exit::Waiting => 4,
            Exit::TimedOut => 5,
            Exit::Unreachable => 6,
        }
    }

    fn meaning(self) -> &'static str {
        match self {
            Exit::Ok => "success; rollout status: running healthy or completed",
            Exit::Error => "error: a refused request, an invalid config, an unknown name",
            Exit::Usage => "bad usage: unknown flag or subcommand, missing or malformed argument",
            Exit::RolledBack => "rollout status: rolled back (or aborted)",
            Exit::Waiting => {
                "rollout status: waits for a person (paused, awaiting approval, pending)"
            }
            Exit::TimedOut => "rollout status --watch: --timeout passed first",
            Exit::Unreachable => "server unreachable, or no answer within --request-timeout",
        }
    }

    /// The exit code a rollout's `status` (as the API spells it) stands for, and whether a watch
    /// stops there. `running` is healthy and goes on; an unknown status is an error.
    pub fn of_rollout_status(status: &str) -> Option<(Exit, bool)> {
        Some(match status {
            "running" => (Exit::Ok, false),
            "completed" => (Exit::Ok, true),
            "rolled-back" => (Exit::RolledBack, true),
            "paused" | "awaiting-approval" | "pending" => (Exit::Waiting, true),
            _ => return None,
        })
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

/// The table of exit codes, for `--help`.
pub fn table() -> String {
    let mut s = String::from("Exit codes:\n");
    for e in Exit::ALL {
        s.push_str(&format!("  {}  {}\n", e.code(), e.meaning()));
    }
    s
}

/// A command that did not succeed: the code to exit with and one line for stderr.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Failure {
            exit,
            message: message.into(),
        }
    }
}

/// A plain message is a general error.
impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::new(Exit::Error, message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Failure::new(Exit::Error, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Writes to stdout. When the reader has gone (a closed pipe) there is nobody left to tell, so
/// the process ends at once with code 0, as `head` expects of the program before it; any other
/// write error is reported and ends it with the general error code.
pub fn write_stdout(args: fmt::Arguments<'_>, newline: bool) {
    write_with(|out| {
        out.write_fmt(args)?;
        if newline {
            out.write_all(b"\n")
        } else {
            // `print!` without a newline shows progress: flush so it is seen now.
            out.flush()
        }
    });
}

/// Writes raw bytes to stdout with the same closed-pipe rule as [`write_stdout`].
pub fn write_stdout_bytes(bytes: &[u8]) {
    write_with(|out| {
        out.write_all(bytes)?;
        out.flush()
    });
}

fn write_with(write: impl FnOnce(&mut std::io::StdoutLock<'static>) -> std::io::Result<()>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = write(&mut out) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(i32::from(Exit::Ok.code()));
        }
        eprintln!("rampart: cannot write to stdout: {e}");
        std::process::exit(i32::from(Exit::Error.code()));
    }
}

/// `println!` that treats a closed stdout as the end of the command (see [`write_stdout`]).
macro_rules! outln {
    () => {
        $crate::exit::write_stdout(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::exit::write_stdout(format_args!($($arg)*), true)
    };
}

/// `print!` that treats a closed stdout as the end of the command (see [`write_stdout`]).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::exit::write_stdout(format_args!($($arg)*), false)
    };
}

pub(crate) use {out, outln};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_the_table_lists_each_once() {
        let mut codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6]);
        let t = table();
        for e in Exit::ALL {
            assert_eq!(
                t.lines()
                    .filter(|l| l.starts_with(&format!("  {}  ", e.code())))
                    .count(),
                1,
                "{t}"
            );
        }
    }

    #[test]
    fn rollout_statuses_map_to_their_codes() {
        let got: Vec<_> = [
            "running",
            "completed",
            "rolled-back",
            "paused",
            "awaiting-approval",
            "pending",
            "sideways",
        ]
        .iter()
        .map(|s| Exit::of_rollout_status(s).map(|(e, stop)| (e.code(), stop)))
        .collect();
        assert_eq!(
            got,
            [
                Some((0, false)),
                Some((0, true)),
                Some((3, true)),
                Some((4, true)),
                Some((4, true)),
                Some((4, true)),
                None
            ]
        );
    }
}
