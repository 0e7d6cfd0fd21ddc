//! Records the compiler that builds the server, for the `rustc` label of `rampart_build_info`;
//! the `commit` label comes from `RAMPART_COMMIT` when the build sets it.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RAMPART_COMMIT");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok());
    if let Some(v) = version {
        // "rustc 1.95.0 (59807616e 2026-...)" → "1.95.0"
        let v = v.split_whitespace().nth(1).unwrap_or_default();
        println!("cargo:rustc-env=RAMPART_RUSTC_VERSION={v}");
    }
}
