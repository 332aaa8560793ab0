//! How the host builds the metal kernel image: `cargo build -p iospace-kernel --profile kernel`
//! in this source tree (and the caller's target directory), and the executable cargo reports.
//!
//! Host code, not part of the kernel: `iospace qemu` (`crates/cli/src/qemu.rs`) and the kernel's
//! machine-code tests (`crates/kernel/tests/kernel_image`) include this one file with `#[path]`,
//! so both build the image the same way. Both crates sit two levels below the workspace root.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Builds the kernel and returns its executable; the error says what went wrong, in words.
pub fn build_kernel_image() -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let output = Command::new(&cargo)
        .args([
            "build",
            "-p",
            "iospace-kernel",
            "--profile",
            "kernel",
            "--message-format=json-render-diagnostics",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| format!("{}: {error}", Path::new(&cargo).display()))?;
    if !output.status.success() {
        return Err(format!("cargo build exited with {}", output.status));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact" && message["target"]["name"] == "iospace-kernel"
        })
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "cargo reported no iospace-kernel executable".into())
}
