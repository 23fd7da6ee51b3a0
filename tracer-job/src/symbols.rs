//! Turning stack addresses into function names, on the node where the binaries are.
//!
//! Kernel addresses are looked up in /proc/kallsyms; user addresses through the process's
//! mappings (/proc/PID/maps, each file opened through /proc/PID/map_files, so binaries
//! inside containers are found without knowing their mount namespace), from ELF symbol
//! tables, demangled (Rust, C++), and from perf map files of JIT runtimes when present.
//! An address nothing names is shown as `module+0xOFFSET` (its file and the offset in it)
//! or `[unknown 0xADDRESS]`: frames are never dropped, so counts stay whole.

use blazesym::{
    MaybeDefault,
    normalize::{Normalizer, UserMeta},
    symbolize::{
        Input, Symbolized, Symbolizer,
        source::{Kernel, Process, Source},
    },
};

/// Suffix of kernel frames, the convention flame graph tools color by.
pub const KERNEL_SUFFIX: &str = "_[k]";

/// Longest function name kept; longer ones (deeply generic Rust or C++) are cut, so a
/// stack stays within a record line.
const MAX_NAME_BYTES: usize = 256;

pub struct Symbols {
    symbolizer: Symbolizer,
    normalizer: Normalizer,
}

impl Default for Symbols {
    fn default() -> Self {
        Symbols::new()
    }
}

impl Symbols {
    pub fn new() -> Self {
        Symbols {
            symbolizer: Symbolizer::builder()
                .enable_demangling(true)
                .enable_code_info(false)
                .enable_inlined_fns(false)
                .build(),
            normalizer: Normalizer::new(),
        }
    }

    /// Names of a kernel stack's frames, innermost first, each with `KERNEL_SUFFIX`.
    pub fn kernel(&self, addrs: &[u64]) -> Vec<String> {
        let src = Source::Kernel(Kernel {
            kallsyms: MaybeDefault::Default,
            // A vmlinux image adds nothing kallsyms lacks for function names, and
            // searching for one costs.
            vmlinux: MaybeDefault::None,
            debug_syms: false,
            ..Kernel::default()
        });
        let lookup = return_sites(addrs);
        let names = match self.symbolizer.symbolize(&src, Input::AbsAddr(&lookup)) {
            Ok(found) => found
                .iter()
                .zip(addrs)
                .map(|(symbol, addr)| match symbol {
                    Symbolized::Sym(sym) => name(&sym.name),
                    Symbolized::Unknown(_) => unknown(*addr),
                })
                .collect(),
            Err(_) => addrs.iter().map(|addr| unknown(*addr)).collect::<Vec<_>>(),
        };
        names
            .into_iter()
            .map(|name| format!("{name}{KERNEL_SUFFIX}"))
            .collect()
    }

    /// Names of a user stack's frames in process `pid`, innermost first.
    pub fn user(&self, pid: u32, addrs: &[u64]) -> Vec<String> {
        let mut process = Process::new(pid.into());
        process.debug_syms = false;
        let src = Source::Process(process);
        let lookup = return_sites(addrs);
        let mut names: Vec<Option<String>> =
            match self.symbolizer.symbolize(&src, Input::AbsAddr(&lookup)) {
                Ok(found) => found
                    .iter()
                    .map(|symbol| match symbol {
                        Symbolized::Sym(sym) => Some(name(&sym.name)),
                        Symbolized::Unknown(_) => None,
                    })
                    .collect(),
                Err(_) => vec![None; addrs.len()],
            };
        let missing: Vec<u64> = names
            .iter()
            .zip(&lookup)
            .filter(|(name, _)| name.is_none())
            .map(|(_, addr)| *addr)
            .collect();
        if !missing.is_empty() {
            let mut modules = self.modules(pid, &missing).into_iter();
            for slot in names.iter_mut().filter(|name| name.is_none()) {
                *slot = modules.next().flatten();
            }
        }
        names
            .into_iter()
            .zip(addrs)
            .map(|(name, addr)| name.unwrap_or_else(|| unknown(*addr)))
            .collect()
    }

    /// `module+0xOFFSET` for addresses no symbol covers, where the file is known.
    fn modules(&self, pid: u32, addrs: &[u64]) -> Vec<Option<String>> {
        let Ok(output) = self.normalizer.normalize_user_addrs(pid.into(), addrs) else {
            return vec![None; addrs.len()];
        };
        output
            .outputs
            .iter()
            .map(|(offset, meta)| match output.meta.get(*meta) {
                Some(UserMeta::Elf(elf)) => {
                    let module = elf.path.file_name().map_or_else(
                        || elf.path.display().to_string(),
                        |name| name.to_string_lossy().into_owned(),
                    );
                    Some(format!("{module}+{offset:#x}"))
                }
                Some(UserMeta::Sym(sym)) => Some(name(&sym.name)),
                _ => None,
            })
            .collect()
    }
}

/// The addresses to look up: every frame but the innermost holds a return address, which
/// may already be past the end of the calling function; one byte back is inside the call.
fn return_sites(addrs: &[u64]) -> Vec<u64> {
    addrs
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            if i == 0 {
                *addr
            } else {
                addr.saturating_sub(1)
            }
        })
        .collect()
}

fn unknown(addr: u64) -> String {
    format!("[unknown {addr:#x}]")
}

/// A function name fit for a folded stack: no `;` (the frame separator), no line breaks,
/// not longer than `MAX_NAME_BYTES`.
fn name(raw: &str) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| if c == ';' || c.is_control() { '_' } else { c })
        .collect();
    if name.len() > MAX_NAME_BYTES {
        let mut end = MAX_NAME_BYTES;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
        name.push('…');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn a_known_function() -> u64 {
        std::hint::black_box(42)
    }

    #[test]
    fn names_a_function_of_this_process() {
        let addr = a_known_function as *const () as u64;
        let names = Symbols::new().user(std::process::id(), &[addr]);
        assert!(names[0].contains("a_known_function"), "{names:?}");
    }

    #[test]
    fn unknown_addresses_keep_their_frame() {
        let names = Symbols::new().user(std::process::id(), &[8, 16]);
        assert_eq!(
            names,
            ["[unknown 0x8]", "[unknown 0x10]"]
                .map(String::from)
                .to_vec()
        );
    }

    #[test]
    fn names_fit_a_folded_line() {
        assert_eq!(name("a;b\nc"), "a_b_c");
        let long = "x".repeat(1000);
        assert_eq!(name(&long).len(), MAX_NAME_BYTES + '…'.len_utf8());
    }
}
