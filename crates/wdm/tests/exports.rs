//! The library's exports against the issue's list of routines, the headers and the C tests:
//! every routine the issue names is exported, every export is declared in a header, and every
//! export is called by at least one C test.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

/// The routines the C ABI must export (issue 5), with the register and port families spelled
/// out, plus the controls of `iospace.h`.
fn required_routines() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = [
        "MmMapIoSpace",
        "MmMapIoSpaceEx",
        "MmUnmapIoSpace",
        "MmAllocateMappingAddress",
        "MmAllocateMappingAddressEx",
        "MmFreeMappingAddress",
        "MmMapLockedPagesWithReservedMapping",
        "MmUnmapReservedMapping",
        "IoAllocateMdl",
        "IoFreeMdl",
        "IoBuildPartialMdl",
        "MmSizeOfMdl",
        "MmProbeAndLockPages",
        "MmUnlockPages",
        "MmBuildMdlForNonPagedPool",
        "MmAllocatePagesForMdl",
        "MmAllocatePagesForMdlEx",
        "MmFreePagesFromMdl",
        "MmMapLockedPages",
        "MmMapLockedPagesSpecifyCache",
        "MmUnmapLockedPages",
        "MmAllocateContiguousMemory",
        "MmAllocateContiguousMemorySpecifyCache",
        "MmFreeContiguousMemory",
        "MmAllocateNonCachedMemory",
        "MmFreeNonCachedMemory",
        "MmGetPhysicalAddress",
        "MmIsAddressValid",
        "ExAllocatePoolWithTag",
        "ExAllocatePool2",
        "ExFreePoolWithTag",
        "ExFreePool",
        "KeGetCurrentIrql",
        "KeRaiseIrql",
        "KeLowerIrql",
        "KeBugCheckEx",
        "HalTranslateBusAddress",
        "HalGetBusDataByOffset",
        "HalSetBusDataByOffset",
        "RtlCmEncodeMemIoResource",
        "RtlCmDecodeMemIoResource",
        "IospBoot",
        "IospShutdown",
        "IospSetBugCheckCallback",
        "IospOutstandingMappings",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    for width in ["UCHAR", "USHORT", "ULONG", "ULONG64"] {
        for form in ["READ_REGISTER_", "WRITE_REGISTER_", "READ_REGISTER_BUFFER_", "WRITE_REGISTER_BUFFER_"] {
            names.insert(format!("{form}{width}"));
        }
        if width != "ULONG64" {
            for form in ["READ_PORT_", "WRITE_PORT_", "READ_PORT_BUFFER_", "WRITE_PORT_BUFFER_"] {
                names.insert(format!("{form}{width}"));
            }
        }
    }
    names
}

/// The functions `libiospace_wdm.so` exports, read with `nm`.
fn exported_routines() -> BTreeSet<String> {
    let library = common::library_directory().join("libiospace_wdm.so");
    let output = Command::new("nm")
        .args(["-D", "--defined-only", "--format=posix"])
        .arg(&library)
        .output()
        .expect("nm (binutils, installed with the C compiler) runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let name = fields.next()?;
            (fields.next()? == "T").then(|| name.to_owned())
        })
        .collect()
}

fn read_all(directory: &std::path::Path, extension: &str) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(directory).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|found| found == extension) {
            text += &std::fs::read_to_string(&path).unwrap();
        }
    }
    text
}

#[test]
fn every_routine_the_issue_names_is_exported() {
    let exported = exported_routines();
    let missing: Vec<_> = required_routines().difference(&exported).cloned().collect();
    assert!(missing.is_empty(), "not exported: {missing:?}");
}

#[test]
fn every_export_is_declared_in_a_header_and_called_by_a_c_test() {
    let headers = read_all(&common::crate_directory().join("include"), "h");
    let tests = read_all(&common::c_directory(), "c");
    for name in exported_routines() {
        let call = format!("{name}(");
        assert!(headers.contains(&format!(" {call}")), "{name} is not declared in include/");
        // IospSetCallSite is called by the headers' routine macros, around every call.
        let called =
            tests.contains(&call) || (name == "IospSetCallSite" && headers.contains("IOSP_AT(Call)"));
        assert!(called, "no C test calls {name}");
    }
}
