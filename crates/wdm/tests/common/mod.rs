//! Building and running C programs against the library cargo built for this test run.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// The crate's directory.
pub fn crate_directory() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where the C test programs live.
pub fn c_directory() -> PathBuf {
    crate_directory().join("tests").join("c")
}

/// The directory holding `libiospace_wdm.so`: cargo builds the library with all its crate
/// types before it links this test, into the `deps` directory this test binary runs from.
pub fn library_directory() -> PathBuf {
    let executable = std::env::current_exe().expect("the test binary's path");
    let deps = executable.parent().expect("the test binary is in a directory").to_path_buf();
    for directory in [deps.clone(), deps.parent().map(Path::to_path_buf).unwrap_or_default()] {
        if directory.join("libiospace_wdm.so").is_file() {
            return directory;
        }
    }
    panic!("libiospace_wdm.so is not next to {} (run `cargo build -p iospace-wdm`)", executable.display());
}

/// A scratch directory of this test binary's, fresh for `name`.
pub fn scratch_directory(name: &str) -> PathBuf {
    let directory = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("iospace-wdm").join(name);
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("a scratch directory");
    directory
}

/// Compiles and links C `sources` into `output` with the suite's flags.
pub fn compile_sources(sources: &[PathBuf], include: &[PathBuf], output: &Path) {
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let library = library_directory();
    let mut command = Command::new(&compiler);
    command.args(["-Wall", "-Wextra", "-Werror", "-std=c11", "-g"]);
    command.arg("-I").arg(crate_directory().join("include"));
    for directory in include {
        command.arg("-I").arg(directory);
    }
    command.args(sources).arg("-o").arg(output);
    command.arg("-L").arg(&library).arg("-liospace_wdm");
    command.arg(format!("-Wl,-rpath,{}", library.display()));
    let result = command.output().unwrap_or_else(|error| panic!("{compiler} does not run: {error}"));
    assert!(
        result.status.success(),
        "{compiler} failed on {sources:?}:\n{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
}

/// The executable built from `tests/c/<program>.c`, compiled once per test run.
pub fn compile(program: &str) -> PathBuf {
    static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let built = built.get_or_insert_with(HashMap::new);
    if let Some(path) = built.get(program) {
        return path.clone();
    }
    let output = scratch_directory(&format!("bin-{program}")).join(program);
    compile_sources(&[c_directory().join(format!("{program}.c"))], &[c_directory()], &output);
    built.insert(program.to_owned(), output.clone());
    output
}

/// Runs `program` with `arguments` and collects what it printed.
pub fn run(program: &Path, arguments: &[&str]) -> Output {
    Command::new(program)
        .args(arguments)
        .output()
        .unwrap_or_else(|error| panic!("{} does not run: {error}", program.display()))
}
