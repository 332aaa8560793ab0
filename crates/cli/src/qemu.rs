//! `iospace qemu`: builds the metal kernel, boots it under `qemu-system-x86_64 -machine q35`
//! with the default machine's devices (edu, ivshmem-plain over a shared-memory file,
//! pci-testdev, COM1 as the console) and `isa-debug-exit`, shows the console as it runs, then
//! checks from the host the pattern the ivshmem driver left in the shared-memory file.
//!
//! The verdict is the kernel's exit status through `isa-debug-exit` (33: every check passed)
//! and the host's own check of the file; anything else — a failed check, a bug check, a triple
//! fault, the timeout — is a failure.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use iospace_drivers::ivshmem::{PATTERN_BYTES, pattern};

#[path = "../../kernel/image_build.rs"]
mod image_build;

/// QEMU's exit status when the kernel writes its success code (0x10) to `isa-debug-exit`:
/// `(0x10 << 1) | 1`.
pub const KERNEL_SUCCESS_STATUS: i32 = 33;
/// The same for "a check failed" (0x11) and "bug check" (0x12).
const KERNEL_CHECKS_FAILED_STATUS: i32 = 35;
const KERNEL_BUG_CHECK_STATUS: i32 = 37;

/// Bytes of ivshmem's shared memory (BAR2), as on the hosted default machine.
const SHARED_MEMORY_BYTES: u64 = 4 << 20;

/// Options of `iospace qemu`.
#[derive(Debug, clap::Args)]
pub struct QemuArgs {
    /// A kernel ELF to boot instead of building `iospace-kernel` from this source tree.
    #[arg(long, value_name = "FILE")]
    kernel: Option<PathBuf>,
    /// The QEMU binary.
    #[arg(long, value_name = "PROGRAM", default_value = "qemu-system-x86_64")]
    qemu: PathBuf,
    /// The file backing ivshmem's shared memory (default: a fresh /dev/shm/iospace-qemu-*).
    #[arg(long, value_name = "FILE")]
    shared_memory: Option<PathBuf>,
    /// Keep the shared-memory file afterwards, for inspection.
    #[arg(long)]
    keep_shared_memory: bool,
    /// The kernel command line (QEMU's `-append`); `iospace.stop=page-fault` or
    /// `iospace.stop=unmap-unknown` make the kernel bug-check on purpose.
    #[arg(long, value_name = "TEXT")]
    append: Option<String>,
    /// Seconds QEMU may run before it is stopped and the run fails.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    timeout: u64,
}

/// Why `iospace qemu` could not reach a verdict.
#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    /// `cargo build` of the kernel did not run or failed.
    #[error("building the kernel: {0}")]
    Build(String),
    /// QEMU could not be started (not installed?).
    #[error("starting {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// Waiting for QEMU failed.
    #[error("waiting for QEMU: {0}")]
    Wait(std::io::Error),
}

/// What a run of the kernel under QEMU showed.
#[derive(Debug)]
pub struct QemuOutcome {
    /// QEMU's exit status, `None` if it was stopped at the timeout.
    pub status: Option<ExitStatus>,
    /// The host's check of the shared-memory file.
    pub shared_memory: Result<String, String>,
}

impl QemuOutcome {
    /// Whether the kernel reported success and the host found the pattern.
    pub fn passed(&self) -> bool {
        self.status.and_then(|status| status.code()) == Some(KERNEL_SUCCESS_STATUS)
            && self.shared_memory.is_ok()
    }

    /// What QEMU's exit means.
    fn kernel_verdict(&self) -> String {
        match self.status.map(|status| status.code()) {
            None => "stopped at the timeout".into(),
            Some(Some(KERNEL_SUCCESS_STATUS)) => "PASS (isa-debug-exit 0x10, QEMU status 33)".into(),
            Some(Some(KERNEL_CHECKS_FAILED_STATUS)) => "FAIL: a check failed (QEMU status 35)".into(),
            Some(Some(KERNEL_BUG_CHECK_STATUS)) => "FAIL: bug check (QEMU status 37)".into(),
            Some(Some(0)) => "FAIL: QEMU exited with 0 (a triple fault under -no-reboot)".into(),
            Some(Some(code)) => format!("FAIL: QEMU exited with {code}"),
            Some(None) => "FAIL: QEMU was killed by a signal".into(),
        }
    }
}

/// A shared-memory file name no other run uses: `/dev/shm/iospace-qemu-<pid>-<n>`.
pub fn fresh_shared_memory_path() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    PathBuf::from(format!("/dev/shm/iospace-qemu-{}-{n}", std::process::id()))
}

/// Builds the kernel with `cargo build -p iospace-kernel --profile kernel` in this source
/// tree (and the caller's target directory) and returns the executable cargo reports.
pub fn build_kernel() -> Result<PathBuf, QemuError> {
    image_build::build_kernel_image().map_err(QemuError::Build)
}

/// The QEMU command line: q35 under TCG, the default machine's devices, COM1 on stdio.
fn qemu_command(program: &Path, kernel: &Path, shared_memory: &Path, append: Option<&str>) -> Command {
    let mut command = Command::new(program);
    command
        .args(["-machine", "q35", "-accel", "tcg", "-cpu", "max", "-m", "512M"])
        .args(["-nodefaults", "-no-reboot", "-display", "none", "-serial", "stdio"])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        .args(["-device", "edu"])
        .arg("-object")
        .arg(format!(
            "memory-backend-file,id=ivshmem,share=on,mem-path={},size={SHARED_MEMORY_BYTES}",
            shared_memory.display()
        ))
        .args(["-device", "ivshmem-plain,memdev=ivshmem"])
        .args(["-device", "pci-testdev"])
        .arg("-kernel")
        .arg(kernel)
        .args(append.map(|text| ["-append", text]).into_iter().flatten())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

/// Waits for `child` for at most `timeout`; kills it at the limit and returns `None`.
fn wait_with_timeout(child: &mut Child, timeout: Duration) -> std::io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            child.kill()?;
            child.wait()?;
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks that the shared-memory file starts with the pattern the ivshmem driver writes.
pub fn check_shared_memory(path: &Path) -> Result<String, String> {
    let contents = std::fs::read(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let expected = pattern(PATTERN_BYTES as usize);
    let Some(found) = contents.get(..expected.len()) else {
        return Err(format!("{}: {} bytes, shorter than the pattern", path.display(), contents.len()));
    };
    match found.iter().zip(&expected).position(|(a, b)| a != b) {
        None => Ok(format!("{}: the driver's {}-byte pattern is there", path.display(), expected.len())),
        Some(at) => Err(format!(
            "{}: byte {at:#x} is {:#04x}, the pattern has {:#04x}",
            path.display(),
            found[at],
            expected[at]
        )),
    }
}

/// Boots `kernel` under QEMU, echoing the console to stdout, and checks the shared memory.
pub fn boot(args: &QemuArgs, kernel: &Path) -> Result<QemuOutcome, QemuError> {
    let shared_memory = args.shared_memory.clone().unwrap_or_else(fresh_shared_memory_path);
    let mut child = qemu_command(&args.qemu, kernel, &shared_memory, args.append.as_deref())
        .spawn()
        .map_err(|source| QemuError::Spawn { program: args.qemu.display().to_string(), source })?;
    let console = child.stdout.take().map(|stdout| {
        std::thread::spawn(move || {
            let mut out = std::io::stdout().lock();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // QEMU passes the guest's CR LF through; print plain lines.
                let _ = writeln!(out, "{}", line.trim_end_matches('\r'));
            }
        })
    });
    let status = wait_with_timeout(&mut child, Duration::from_secs(args.timeout)).map_err(QemuError::Wait);
    if let Some(console) = console {
        let _ = console.join();
    }
    let status = status?;
    let checked = check_shared_memory(&shared_memory);
    if !args.keep_shared_memory {
        let _ = std::fs::remove_file(&shared_memory);
    }
    Ok(QemuOutcome { status, shared_memory: checked })
}

/// `iospace qemu`: build, boot, check; prints the host's verdict after the console.
pub fn run(args: &QemuArgs) -> Result<QemuOutcome, QemuError> {
    let kernel = match &args.kernel {
        Some(kernel) => kernel.clone(),
        None => build_kernel()?,
    };
    println!("iospace qemu: booting {} under QEMU (q35, TCG)", kernel.display());
    let outcome = boot(args, &kernel)?;
    println!("\nHost");
    println!("  kernel: {}", outcome.kernel_verdict());
    match &outcome.shared_memory {
        Ok(found) => println!("  ok   shared memory: {found}"),
        Err(problem) => println!("  FAIL shared memory: {problem}"),
    }
    println!("  verdict: {}", if outcome.passed() { "PASS" } else { "FAIL" });
    Ok(outcome)
}

/// The exit code of `iospace qemu`: 0 if the kernel and the host check passed, 1 if either
/// failed, 2 if QEMU could not be run at all.
pub fn command(args: &QemuArgs) -> std::process::ExitCode {
    match run(args) {
        Ok(outcome) if outcome.passed() => std::process::ExitCode::SUCCESS,
        Ok(_) => std::process::ExitCode::FAILURE,
        Err(error) => {
            eprintln!("iospace qemu: {error}");
            std::process::ExitCode::from(2)
        }
    }
}
