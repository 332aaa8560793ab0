//! "Compiles to one load", checked on machine code (the definition is in the kernel's
//! `register_instances.rs`): on every path from the function's entry to a `ret`, exactly one
//! memory read, of 4 bytes, at the address held in the argument register (or a copy of it),
//! with no index and no displacement; no other memory access; no call, no jump out of the
//! function, no indirect jump, no loop; no fence and no locked instruction.
//!
//! Paths that cannot reach a `ret` — the cold branch that bug-checks, which ends in a call that
//! never returns, then `ud2`, `int3` or the end of the function — are not constrained. The
//! `ret` itself pops the return address: that read is the function's return, not the
//! routine's, and is not counted.

use std::collections::BTreeSet;
use std::fmt;

use iced_x86::{
    Code, Decoder, DecoderOptions, FlowControl, Formatter, Instruction, InstructionInfoFactory,
    IntelFormatter, Mnemonic, OpAccess, OpKind, Register,
};

/// Paths that return, explored before the check gives up: far more than a register routine has.
const MAX_PATHS: usize = 1024;

/// What the check found in one function.
#[derive(Debug)]
pub struct Verdict {
    /// The function, disassembled, for messages.
    pub listing: String,
    /// Paths from the entry to a `ret`.
    pub returning_paths: usize,
    /// Why the function is not one load; empty when it is.
    pub violations: Vec<String>,
}

impl Verdict {
    /// Whether the function compiles to one load.
    pub fn is_one_load(&self) -> bool {
        self.returning_paths > 0 && self.violations.is_empty()
    }

    /// Whether some violation mentions `what`.
    pub fn mentions(&self, what: &str) -> bool {
        self.violations.iter().any(|violation| violation.contains(what))
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} path(s) return; violations:", self.returning_paths)?;
        for violation in &self.violations {
            writeln!(f, "  - {violation}")?;
        }
        write!(f, "{}", self.listing)
    }
}

/// Where control goes after an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exit {
    /// To instructions of the function (by index).
    To([Option<usize>; 2]),
    /// Back to the caller.
    Returns,
    /// Out of the function by a direct jump: a tail call.
    JumpsOut(u64),
    /// Somewhere only known at run time.
    IndirectJump,
    /// Nowhere: a trap, or the end of the function after a call that does not return.
    Stops,
}

/// Checks the function whose machine code is `code`, loaded at `address`, taking the register
/// address in `argument` (a 64-bit register).
pub fn check_one_load(code: &[u8], address: u64, argument: Register) -> Verdict {
    let instructions: Vec<Instruction> =
        Decoder::with_ip(64, code, address, DecoderOptions::NONE).into_iter().collect();
    let listing = listing(&instructions);
    let mut violations = Vec::new();
    if let Some(invalid) = instructions.iter().find(|instruction| instruction.is_invalid()) {
        violations.push(format!("{:#x}: bytes that do not decode", invalid.ip()));
        return Verdict { listing, returning_paths: 0, violations };
    }
    let exits: Vec<Exit> = (0..instructions.len()).map(|index| exit(&instructions, index)).collect();
    let returns = reaches_an_exit_that_returns(&exits);
    let paths = match returning_paths(&exits, &returns) {
        Ok(paths) => paths,
        Err(problem) => {
            violations.push(problem);
            return Verdict { listing, returning_paths: 0, violations };
        }
    };
    if paths.is_empty() {
        violations.push("no path returns to the caller".into());
    }
    let mut factory = InstructionInfoFactory::new();
    for path in &paths {
        for violation in path_violations(&instructions, &exits, path, argument, &mut factory) {
            if !violations.contains(&violation) {
                violations.push(violation);
            }
        }
    }
    Verdict { listing, returning_paths: paths.len(), violations }
}

fn listing(instructions: &[Instruction]) -> String {
    let mut formatter = IntelFormatter::new();
    let mut text = String::new();
    for instruction in instructions {
        let mut line = String::new();
        formatter.format(instruction, &mut line);
        text.push_str(&format!("    {:#x}: {line}\n", instruction.ip()));
    }
    text
}

fn index_of(instructions: &[Instruction], ip: u64) -> Option<usize> {
    instructions.binary_search_by_key(&ip, Instruction::ip).ok()
}

fn exit(instructions: &[Instruction], index: usize) -> Exit {
    let instruction = &instructions[index];
    let next = index + 1 < instructions.len();
    let following = next.then_some(index + 1);
    let start = instructions[0].ip();
    let end = instructions[instructions.len() - 1].next_ip();
    let branch = || {
        let target = instruction.near_branch_target();
        if (start..end).contains(&target) {
            index_of(instructions, target).ok_or(target)
        } else {
            Err(target)
        }
    };
    match instruction.flow_control() {
        FlowControl::Return => Exit::Returns,
        FlowControl::UnconditionalBranch => match branch() {
            Ok(target) => Exit::To([Some(target), None]),
            Err(target) => Exit::JumpsOut(target),
        },
        FlowControl::ConditionalBranch => match branch() {
            Ok(target) => Exit::To([Some(target), following]),
            Err(target) => Exit::JumpsOut(target),
        },
        FlowControl::IndirectBranch => Exit::IndirectJump,
        FlowControl::Exception => Exit::Stops,
        FlowControl::Interrupt if instruction.mnemonic() == Mnemonic::Int3 => Exit::Stops,
        // A call that does not return is the last instruction of its path: falling off the
        // function's end after it goes nowhere.
        _ if !next => Exit::Stops,
        _ => Exit::To([following, None]),
    }
}

/// For each instruction, whether some path from it ends in a return, a jump out of the
/// function or an indirect jump (each of which may get back to the caller).
fn reaches_an_exit_that_returns(exits: &[Exit]) -> Vec<bool> {
    let mut returns: Vec<bool> = exits
        .iter()
        .map(|exit| matches!(exit, Exit::Returns | Exit::JumpsOut(_) | Exit::IndirectJump))
        .collect();
    let mut changed = true;
    while changed {
        changed = false;
        for (index, exit) in exits.iter().enumerate() {
            if let Exit::To(targets) = exit
                && !returns[index]
                && targets.iter().flatten().any(|&target| returns[target])
            {
                returns[index] = true;
                changed = true;
            }
        }
    }
    returns
}

/// Every path from the entry to an exit that may return, as instruction indices; an error for a
/// loop on such a path or for more paths than a register routine can have.
fn returning_paths(exits: &[Exit], returns: &[bool]) -> Result<Vec<Vec<usize>>, String> {
    let mut paths = Vec::new();
    if exits.is_empty() || !returns[0] {
        return Ok(paths);
    }
    let mut pending = vec![vec![0usize]];
    while let Some(path) = pending.pop() {
        let last = path[path.len() - 1];
        match exits[last] {
            Exit::To(targets) => {
                for &target in targets.iter().flatten().filter(|&&target| returns[target]) {
                    if path.contains(&target) {
                        return Err("a loop on a path that returns".into());
                    }
                    let mut longer = path.clone();
                    longer.push(target);
                    pending.push(longer);
                }
            }
            Exit::Stops => {}
            Exit::Returns | Exit::JumpsOut(_) | Exit::IndirectJump => {
                paths.push(path);
                if paths.len() > MAX_PATHS {
                    return Err(format!("more than {MAX_PATHS} paths return"));
                }
            }
        }
    }
    Ok(paths)
}

fn path_violations(
    instructions: &[Instruction],
    exits: &[Exit],
    path: &[usize],
    argument: Register,
    factory: &mut InstructionInfoFactory,
) -> Vec<String> {
    let mut violations = Vec::new();
    let mut holders = BTreeSet::from([argument]);
    let mut reads = Vec::new();
    let last = path[path.len() - 1];
    match exits[last] {
        Exit::JumpsOut(target) => {
            violations.push(format!("jumps out of the function to {target:#x} (a call)"))
        }
        Exit::IndirectJump => violations.push(format!("{:#x}: an indirect jump", instructions[last].ip())),
        _ => {}
    }
    for &index in path {
        let instruction = &instructions[index];
        let at = instruction.ip();
        if matches!(instruction.flow_control(), FlowControl::Call | FlowControl::IndirectCall) {
            violations.push(format!("{at:#x}: a call"));
        }
        if matches!(instruction.mnemonic(), Mnemonic::Mfence | Mnemonic::Lfence | Mnemonic::Sfence)
            || instruction.has_lock_prefix()
        {
            violations.push(format!("{at:#x}: a fence ({:?})", instruction.mnemonic()));
        }
        let info = factory.info(instruction);
        // The return's pop of the return address is the function returning, not a load.
        let is_return = exits[index] == Exit::Returns;
        for memory in info.used_memory().iter().filter(|_| !is_return) {
            let access = memory.access();
            if matches!(
                access,
                OpAccess::Write | OpAccess::CondWrite | OpAccess::ReadWrite | OpAccess::ReadCondWrite
            ) {
                violations.push(format!("{at:#x}: a memory write ({} bytes)", memory.memory_size().size()));
            }
            if matches!(
                access,
                OpAccess::Read | OpAccess::CondRead | OpAccess::ReadWrite | OpAccess::ReadCondWrite
            ) {
                reads.push((
                    at,
                    memory.memory_size().size(),
                    holders.contains(&memory.base().full_register()),
                    memory.index(),
                    memory.displacement(),
                ));
            }
        }
        follow_copies(instruction, info.used_registers(), &mut holders);
    }
    match reads.as_slice() {
        [] => violations.push("no memory read on a path that returns".into()),
        [(at, size, from_argument, index, displacement)] => {
            if *size != 4 {
                violations.push(format!("{at:#x}: the read is {size} bytes, not 4"));
            }
            if !from_argument {
                violations.push(format!("{at:#x}: the read's base is not the register argument"));
            }
            if *index != Register::None || *displacement != 0 {
                violations.push(format!("{at:#x}: the read is not at the register argument itself"));
            }
        }
        more => violations.push(format!(
            "{} memory reads on one path that returns (at {})",
            more.len(),
            more.iter().map(|(at, ..)| format!("{at:#x}")).collect::<Vec<_>>().join(", ")
        )),
    }
    violations
}

/// Keeps `holders` (the registers holding the argument's value) up to date across
/// `instruction`: a 64-bit register-to-register move from a holder makes the destination one;
/// any other write to a register drops it.
fn follow_copies(
    instruction: &Instruction,
    used: &[iced_x86::UsedRegister],
    holders: &mut BTreeSet<Register>,
) {
    let copy = matches!(instruction.code(), Code::Mov_r64_rm64 | Code::Mov_rm64_r64)
        && instruction.op0_kind() == OpKind::Register
        && instruction.op1_kind() == OpKind::Register;
    if copy && holders.contains(&instruction.op1_register()) {
        holders.insert(instruction.op0_register());
        return;
    }
    for register in used {
        if matches!(
            register.access(),
            OpAccess::Write | OpAccess::CondWrite | OpAccess::ReadWrite | OpAccess::ReadCondWrite
        ) {
            holders.remove(&register.register().full_register());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: u64 = 0x10_0000;

    fn check(code: &[u8]) -> Verdict {
        check_one_load(code, AT, Register::RSI)
    }

    /// What the compiler makes of `READ_REGISTER_ULONG` for a type it sees through: copy the
    /// argument, test its low bits, load, return; the cold branch saves a register, calls the
    /// bug check and traps.
    const ONE_LOAD: &[u8] = &[
        0x48, 0x89, 0xF2, // mov rdx, rsi
        0xF6, 0xC2, 0x03, // test dl, 3
        0x75, 0x03, // jne cold
        0x8B, 0x02, // mov eax, [rdx]
        0xC3, // ret
        0x50, // cold: push rax
        0xFF, 0x15, 0x00, 0x10, 0x00, 0x00, // call [rip + 0x1000]
        0x0F, 0x0B, // ud2
    ];

    #[test]
    fn the_test_then_one_load_with_a_cold_bug_check_is_one_load() {
        let verdict = check(ONE_LOAD);
        assert!(verdict.is_one_load(), "{verdict}");
        assert_eq!(verdict.returning_paths, 1);
    }

    #[test]
    fn a_call_that_falls_off_the_end_does_not_return() {
        let code = &ONE_LOAD[..ONE_LOAD.len() - 2];
        assert!(check(code).is_one_load(), "{}", check(code));
    }

    #[test]
    fn two_loads_are_not_one() {
        let verdict = check(&[0x8B, 0x06, 0x8B, 0x06, 0xC3]); // mov eax, [rsi] twice; ret
        assert!(verdict.mentions("2 memory reads"), "{verdict}");
    }

    #[test]
    fn a_fence_before_the_load_is_refused() {
        let verdict = check(&[0x0F, 0xAE, 0xF0, 0x8B, 0x06, 0xC3]); // mfence; mov eax, [rsi]; ret
        assert!(verdict.mentions("a fence (Mfence)"), "{verdict}");
        let locked = check(&[0xF0, 0x83, 0x04, 0x24, 0x00, 0x8B, 0x06, 0xC3]); // lock add [rsp], 0
        assert!(locked.mentions("a fence") && locked.mentions("a memory write"), "{locked}");
    }

    #[test]
    fn the_load_must_be_4_bytes_at_the_argument_itself() {
        let wide = check(&[0x48, 0x8B, 0x06, 0xC3]); // mov rax, [rsi]
        assert!(wide.mentions("8 bytes, not 4"), "{wide}");
        let other = check(&[0x8B, 0x07, 0xC3]); // mov eax, [rdi]
        assert!(other.mentions("base is not the register argument"), "{other}");
        let offset = check(&[0x8B, 0x46, 0x04, 0xC3]); // mov eax, [rsi + 4]
        assert!(offset.mentions("not at the register argument itself"), "{offset}");
        let moved = check(&[0x48, 0x83, 0xC6, 0x04, 0x8B, 0x06, 0xC3]); // add rsi, 4; mov eax, [rsi]
        assert!(moved.mentions("base is not the register argument"), "{moved}");
    }

    #[test]
    fn stack_traffic_and_calls_on_the_returning_path_are_refused() {
        let stack = check(&[0x50, 0x8B, 0x06, 0x59, 0xC3]); // push rax; mov eax, [rsi]; pop rcx; ret
        assert!(stack.mentions("a memory write") && stack.mentions("2 memory reads"), "{stack}");
        let call = check(&[0xE8, 0x00, 0x00, 0x00, 0x00, 0x8B, 0x06, 0xC3]); // call next; load; ret
        assert!(call.mentions("a call"), "{call}");
        let indirect = check(&[0xFF, 0x50, 0x18, 0xC3]); // call [rax + 0x18]; ret
        assert!(indirect.mentions("a call") && indirect.mentions("a memory write"), "{indirect}");
    }

    #[test]
    fn loops_tail_jumps_and_indirect_jumps_are_refused() {
        // mov eax, [rsi]; test eax, eax; jne back to the load; ret
        let looping = check(&[0x8B, 0x06, 0x85, 0xC0, 0x75, 0xFA, 0xC3]);
        assert!(looping.mentions("a loop"), "{looping}");
        let tail = check(&[0xE9, 0x00, 0x10, 0x00, 0x00]); // jmp elsewhere
        assert!(tail.mentions("jumps out of the function"), "{tail}");
        let indirect = check(&[0x8B, 0x06, 0xFF, 0xE1]); // mov eax, [rsi]; jmp rcx
        assert!(indirect.mentions("an indirect jump"), "{indirect}");
    }

    #[test]
    fn a_function_that_never_returns_is_not_one_load() {
        let verdict = check(&[0x0F, 0x0B]); // ud2
        assert!(!verdict.is_one_load());
        assert!(verdict.mentions("no path returns"), "{verdict}");
    }
}
