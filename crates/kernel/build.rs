//! Links the kernel as a static, non-PIE ELF laid out by `linker.ld`. The arguments apply to
//! this package's binary only, so host tests elsewhere in the workspace link as usual.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // Only the freestanding build (`--profile kernel`, panic = "abort") is the kernel; in other
    // profiles the binary is a host stub (see main.rs) and links as usual. Cargo tells a build
    // script its profile only through the layout: OUT_DIR is <target>/<profile>/build/<pkg>/out.
    let out_dir = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let profile = out_dir.ancestors().nth(3).and_then(|dir| dir.file_name());
    if profile != Some(std::ffi::OsStr::new("kernel")) {
        return;
    }
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=linker.ld");
    println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
    println!("cargo:rustc-link-arg-bins=-nostartfiles");
    println!("cargo:rustc-link-arg-bins=-no-pie");
    println!("cargo:rustc-link-arg-bins=-static");
    println!("cargo:rustc-link-arg-bins=-Wl,--build-id=none");
}
