//! The kernel image as the metal build makes it (`cargo build -p iospace-kernel --profile
//! kernel`, into the caller's target directory), and the machine code of its functions by
//! symbol name.

use std::process::Command;
use std::sync::OnceLock;

use object::{Architecture, Object, ObjectSection, ObjectSymbol, SymbolKind};

#[path = "../../image_build.rs"]
mod image_build;

use image_build::build_kernel_image;

/// The linker driver rustc runs to link the kernel.
const LINKER: &str = "cc";

/// The kernel ELF, built once per test run; `None` when this machine cannot link it (said
/// loudly on stderr). A build that starts and fails is a test failure.
pub fn kernel_image() -> Option<&'static [u8]> {
    static IMAGE: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            if !linker_installed() {
                eprintln!(
                    "\n*** SKIPPED: {LINKER} is not installed, so the metal kernel was not built and \
                     its machine code not checked. Install it (Debian: apt-get install build-essential) \
                     to run this test. ***\n"
                );
                return None;
            }
            let path = build_kernel_image().unwrap_or_else(|error| panic!("building the kernel: {error}"));
            Some(std::fs::read(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display())))
        })
        .as_deref()
}

fn linker_installed() -> bool {
    Command::new(LINKER).arg("--version").output().is_ok_and(|output| output.status.success())
}

/// A function of the image: where it is loaded and its bytes.
#[derive(Debug)]
pub struct Function<'image> {
    /// Its address.
    pub address: u64,
    /// Its machine code (the symbol's size).
    pub code: &'image [u8],
}

/// The function `name` of the x86-64 ELF `image`.
///
/// # Panics
/// If the image is not x86-64 or has no function of that name with a size.
pub fn function<'image>(image: &'image [u8], name: &str) -> Function<'image> {
    let file = object::File::parse(image).expect("the kernel image is an object file");
    assert_eq!(file.architecture(), Architecture::X86_64, "the kernel image is x86-64");
    let symbol = file
        .symbols()
        .find(|symbol| symbol.name() == Ok(name))
        .unwrap_or_else(|| panic!("no symbol {name} in the kernel image"));
    assert_eq!(symbol.kind(), SymbolKind::Text, "{name} is a function");
    assert!(symbol.size() > 0, "{name} has a size");
    let section = symbol
        .section_index()
        .and_then(|index| file.section_by_index(index).ok())
        .unwrap_or_else(|| panic!("{name} is in no section"));
    let code = section
        .data_range(symbol.address(), symbol.size())
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("{name}'s bytes are not in its section"));
    Function { address: symbol.address(), code }
}
