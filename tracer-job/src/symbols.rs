//! Turning stack addresses into function names, on the node where the binaries are.
//!
//! Kernel addresses are named by the kernel (`crate::kernel_names`), or looked up in
//! /proc/kallsyms where it cannot; user addresses through the process's
//! mappings (/proc/PID/maps, each file opened as /proc/PID/root/PATH, so a binary inside a
//! container is read from the container's own file system), from ELF symbol tables,
//! demangled (Rust, C++), and from perf map files of JIT runtimes when present. A
//! stripped binary is named from its separate debug file when the process's file system
//! has one where distributions install them: `/usr/lib/debug/.build-id/XX/REST.debug`,
//! found by the binary's GNU build id.
//!
//! Why /proc/PID/root and not /proc/PID/map_files: opening map_files takes
//! CAP_SYS_ADMIN (or CAP_CHECKPOINT_RESTORE), while reading another process's maps and
//! root takes CAP_SYS_PTRACE, which reading its maps needs anyway. The price: a binary
//! deleted or replaced since the process started is read as it is now on disk, or not
//! at all (then its frames show as `module+0xOFFSET`).
//! An address nothing names is shown as `module+0xOFFSET` (its file and the offset in it)
//! or `[unknown 0xADDRESS]`: frames are never dropped, so counts stay whole.

use std::{
    fs::File,
    os::fd::AsRawFd,
    path::{Path, PathBuf},
};

use blazesym::{
    Addr, MaybeDefault,
    helper::{ElfResolver, read_elf_build_id},
    normalize::{Normalizer, UserMeta},
    symbolize::{
        FindSymOpts, Input, ProcessMemberInfo, ProcessMemberType, Reason, Resolve, ResolvedSym,
        Symbolize, Symbolized, Symbolizer, TranslateFileOffset,
        source::{Kernel, Process, Source},
    },
};

use crate::{
    in_root::open_in_root,
    kernel_names::{KernelNames, without_module},
};

/// Suffix of kernel frames, the convention flame graph tools color by.
pub const KERNEL_SUFFIX: &str = "_[k]";

/// Longest function name kept; longer ones (deeply generic Rust or C++) are cut, so a
/// stack stays within a record line.
const MAX_NAME_BYTES: usize = 256;

pub struct Symbols {
    symbolizer: Symbolizer,
    normalizer: Normalizer,
    kernel: KernelSource,
}

/// Where kernel addresses are named.
enum KernelSource {
    /// Nothing named yet: the program is loaded on first use, so a profile of user
    /// stacks alone never loads it.
    Untried,
    Program(Box<KernelNames>),
    /// The kernel would not run the program.
    Kallsyms,
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
                .set_process_dispatcher(through_root)
                .build(),
            // Build ids would be read from the paths as this process sees them.
            normalizer: Normalizer::builder().enable_build_ids(false).build(),
            kernel: KernelSource::Untried,
        }
    }

    /// Names of kernel stacks' frames, innermost first, each with `KERNEL_SUFFIX`; each
    /// address is looked up once.
    pub fn kernel_stacks(&mut self, stacks: &[&[u64]]) -> Vec<Vec<String>> {
        if stacks.is_empty() {
            return Vec::new();
        }
        let lookups = Lookups::of(stacks);
        let names = match self.named_by_kernel(&lookups.addrs) {
            Some(names) => names,
            None => self.named_by_kallsyms(&lookups.addrs),
        };
        lookups.frames(stacks, &names, |name| format!("{name}{KERNEL_SUFFIX}"))
    }

    /// Names from the kernel's own lookup; `None` when it cannot (then never again).
    fn named_by_kernel(&mut self, addrs: &[u64]) -> Option<Vec<Option<String>>> {
        if matches!(self.kernel, KernelSource::Untried) {
            self.kernel = KernelNames::load().map_or(KernelSource::Kallsyms, |program| {
                KernelSource::Program(Box::new(program))
            });
        }
        let KernelSource::Program(program) = &mut self.kernel else {
            return None;
        };
        let Some(names) = program.name(addrs) else {
            self.kernel = KernelSource::Kallsyms;
            return None;
        };
        // Without ` [module]`, as kallsyms names them.
        let names = names
            .into_iter()
            .map(|found| found.map(|printed| name(without_module(&printed))))
            .collect();
        Some(names)
    }

    /// Names from /proc/kallsyms, which is read whole.
    fn named_by_kallsyms(&self, addrs: &[u64]) -> Vec<Option<String>> {
        let src = Source::Kernel(Kernel {
            kallsyms: MaybeDefault::Default,
            // A vmlinux image adds nothing kallsyms lacks for function names, and
            // searching for one costs.
            vmlinux: MaybeDefault::None,
            debug_syms: false,
            ..Kernel::default()
        });
        match self.symbolizer.symbolize(&src, Input::AbsAddr(addrs)) {
            Ok(found) => found.iter().map(symbol_name).collect(),
            Err(_) => vec![None; addrs.len()],
        }
    }

    /// Names of user stacks' frames in process `pid`, innermost first; its mappings are
    /// read, and each address looked up, once.
    pub fn user_stacks(&self, pid: u32, stacks: &[&[u64]]) -> Vec<Vec<String>> {
        if stacks.is_empty() {
            return Vec::new();
        }
        let mut process = Process::new(pid.into());
        process.debug_syms = false;
        // Files are opened through /proc/PID/root by `through_root`.
        process.map_files = false;
        let src = Source::Process(process);
        let lookups = Lookups::of(stacks);
        let mut names: Vec<Option<String>> = match self
            .symbolizer
            .symbolize(&src, Input::AbsAddr(&lookups.addrs))
        {
            Ok(found) => found.iter().map(symbol_name).collect(),
            Err(_) => vec![None; lookups.addrs.len()],
        };
        let missing: Vec<u64> = names
            .iter()
            .zip(&lookups.addrs)
            .filter(|(name, _)| name.is_none())
            .map(|(_, addr)| *addr)
            .collect();
        if !missing.is_empty() {
            let mut modules = self.modules(pid, &missing).into_iter();
            for slot in names.iter_mut().filter(|name| name.is_none()) {
                *slot = modules.next().flatten();
            }
        }
        lookups.frames(stacks, &names, |name| name.to_owned())
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

/// Opens each file a process maps by its path inside `/proc/PID/root`, the file its path
/// names in the process's mount namespace, resolved inside that root. A file that cannot be opened resolves nothing (its
/// frames become `module+0xOFFSET`), rather than let a file of the same path in the
/// tracer's own file system name them wrongly.
fn through_root(member: ProcessMemberInfo<'_>) -> blazesym::Result<Option<Box<dyn Resolve>>> {
    let ProcessMemberType::Path(entry) = member.member_entry else {
        // `[vdso]`, `[heap]` and the like: blazesym's own handling.
        return Ok(None);
    };
    let Some(root) = process_root(&entry.maps_file) else {
        return Ok(Some(Box::new(Unreadable)));
    };
    let Some(binary) = open_elf(&root, &entry.symbolic_path) else {
        return Ok(Some(Box::new(Unreadable)));
    };
    match debug_file(&root, &binary.path) {
        Some(debug) => Ok(Some(Box::new(WithDebugFile {
            binary: binary.elf,
            debug,
        }))),
        None => Ok(Some(Box::new(binary.elf))),
    }
}

/// An ELF file opened inside a process's root, with the path it is readable at while
/// `_file` stays open.
struct OpenElf {
    elf: ElfResolver,
    path: PathBuf,
    _file: File,
}

/// Opens `path` inside `root` (symlinks resolve inside it: a container cannot name a
/// file of the node) and reads it as ELF.
fn open_elf(root: &Path, path: &Path) -> Option<OpenElf> {
    let file = open_in_root(root, path.to_str()?).ok()?;
    let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    let elf = ElfResolver::open(&path).ok()?;
    Some(OpenElf {
        elf,
        path,
        _file: file,
    })
}

/// The separate debug file, inside `root`, of the binary readable at `binary`, found by
/// the binary's build id.
fn debug_file(root: &Path, binary: &Path) -> Option<ElfResolver> {
    let build_id = read_elf_build_id(binary).ok()??;
    Some(open_elf(root, &build_id_path(&build_id)?)?.elf)
}

/// `/usr/lib/debug/.build-id/XX/REST.debug`: the path GDB, elfutils and distributions'
/// debug packages agree on for the debug file of the build id `XXREST`.
fn build_id_path(build_id: &[u8]) -> Option<PathBuf> {
    let (first, rest) = build_id.split_first()?;
    if rest.is_empty() {
        return None;
    }
    let rest: String = rest.iter().map(|byte| format!("{byte:02x}")).collect();
    Some(PathBuf::from(format!(
        "/usr/lib/debug/.build-id/{first:02x}/{rest}.debug"
    )))
}

/// A mapped binary and its separate debug file: names come from the debug file (a
/// stripped binary has none of its own), falling back to the binary's dynamic symbols;
/// file offsets are translated by the binary, whose segments are the ones mapped.
#[derive(Debug)]
struct WithDebugFile {
    binary: ElfResolver,
    debug: ElfResolver,
}

impl Symbolize for WithDebugFile {
    fn find_sym(
        &self,
        addr: Addr,
        opts: &FindSymOpts,
    ) -> blazesym::Result<Result<ResolvedSym<'_>, Reason>> {
        match self.debug.find_sym(addr, opts)? {
            Ok(found) => Ok(Ok(found)),
            Err(_) => self.binary.find_sym(addr, opts),
        }
    }
}

impl TranslateFileOffset for WithDebugFile {
    fn file_offset_to_virt_offset(&self, file_offset: u64) -> blazesym::Result<Option<Addr>> {
        self.binary.file_offset_to_virt_offset(file_offset)
    }
}

/// `/proc/PID/root` for a mapping whose map_files entry is `/proc/PID/map_files/RANGE`.
fn process_root(maps_file: &Path) -> Option<PathBuf> {
    let mut parts = maps_file.strip_prefix("/proc").ok()?.components();
    let pid = parts.next()?.as_os_str().to_str()?.parse::<u32>().ok()?;
    Some(PathBuf::from(format!("/proc/{pid}/root")))
}

/// A mapped file that could not be read: it resolves no address.
#[derive(Debug)]
struct Unreadable;

impl Symbolize for Unreadable {
    fn find_sym(
        &self,
        _addr: Addr,
        _opts: &FindSymOpts,
    ) -> blazesym::Result<Result<ResolvedSym<'_>, Reason>> {
        Ok(Err(Reason::MissingSyms))
    }
}

impl TranslateFileOffset for Unreadable {
    fn file_offset_to_virt_offset(&self, _file_offset: u64) -> blazesym::Result<Option<Addr>> {
        Ok(None)
    }
}

/// The addresses to look up for some stacks, each once, in ascending order.
struct Lookups {
    addrs: Vec<u64>,
}

impl Lookups {
    fn of(stacks: &[&[u64]]) -> Self {
        let mut addrs: Vec<u64> = stacks
            .iter()
            .flat_map(|stack| return_sites(stack))
            .collect();
        addrs.sort_unstable();
        addrs.dedup();
        Lookups { addrs }
    }

    /// Each stack's frames, from `names` (one per address looked up, `None` where
    /// nothing names it) passed through `show`; an unnamed frame shows its address.
    fn frames(
        &self,
        stacks: &[&[u64]],
        names: &[Option<String>],
        show: impl Fn(&str) -> String,
    ) -> Vec<Vec<String>> {
        stacks
            .iter()
            .map(|stack| {
                return_sites(stack)
                    .zip(stack.iter())
                    .map(|(lookup, addr)| {
                        let named = self
                            .addrs
                            .binary_search(&lookup)
                            .ok()
                            .and_then(|at| names.get(at)?.as_deref());
                        show(&named.map_or_else(|| unknown(*addr), str::to_owned))
                    })
                    .collect()
            })
            .collect()
    }
}

/// The addresses to look up: every frame but the innermost holds a return address, which
/// may already be past the end of the calling function; one byte back is inside the call.
fn return_sites(addrs: &[u64]) -> impl Iterator<Item = u64> + '_ {
    addrs.iter().enumerate().map(|(i, addr)| {
        if i == 0 {
            *addr
        } else {
            addr.saturating_sub(1)
        }
    })
}

fn symbol_name(symbol: &Symbolized<'_>) -> Option<String> {
    match symbol {
        Symbolized::Sym(sym) => Some(name(&sym.name)),
        Symbolized::Unknown(_) => None,
    }
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
        let names = Symbols::new()
            .user_stacks(std::process::id(), &[&[addr]])
            .remove(0);
        assert!(names[0].contains("a_known_function"), "{names:?}");
    }

    #[test]
    fn unknown_addresses_keep_their_frame() {
        let names = Symbols::new()
            .user_stacks(std::process::id(), &[&[8, 16]])
            .remove(0);
        assert_eq!(
            names,
            ["[unknown 0x8]", "[unknown 0x10]"]
                .map(String::from)
                .to_vec()
        );
    }

    /// Needs root, as the tracer does: it loads an eBPF program.
    #[test]
    fn kernel_frames_are_named_by_the_kernel_as_kallsyms_names_them() {
        let kallsyms = std::fs::read_to_string("/proc/kallsyms").expect("read kallsyms");
        let known: Vec<(u64, &str)> = kallsyms
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let addr = u64::from_str_radix(fields.next()?, 16).ok()?;
                let kind = fields.next()?;
                let symbol = fields.next()?;
                (fields.next().is_none() && matches!(kind, "T" | "t") && addr != 0)
                    .then_some((addr, symbol))
            })
            .filter(|(_, symbol)| ["vfs_read", "do_sys_openat2", "schedule"].contains(symbol))
            .collect();
        assert_eq!(
            known.len(),
            3,
            "kallsyms lists addresses to root: {known:?}"
        );
        let mut program = KernelNames::load().expect("this kernel runs the naming program");
        // One byte in, as for a frame's return address.
        let addrs: Vec<u64> = known.iter().map(|(addr, _)| addr + 1).collect();
        let names = program.name(&addrs).expect("the program runs");
        let expected: Vec<Option<String>> = known
            .iter()
            .map(|(_, symbol)| Some((*symbol).to_owned()))
            .collect();
        assert_eq!(names, expected);
        // The fallback, for kernels that will not run the program, agrees.
        assert_eq!(Symbols::new().named_by_kallsyms(&addrs), expected);
        assert_eq!(
            program.name(&[8]),
            Some(vec![None]),
            "nothing holds address 8"
        );
        // More than one batch.
        let many: Vec<u64> = std::iter::repeat_n(addrs[0], 300).collect();
        let names = program.name(&many).expect("the program runs");
        assert_eq!(names.len(), 300);
        assert!(names.iter().all(|name| name == &expected[0]), "{names:?}");
    }

    #[test]
    fn files_are_opened_in_the_process_root() {
        assert_eq!(
            process_root(Path::new("/proc/42/map_files/7f00-7f10")),
            Some(PathBuf::from("/proc/42/root"))
        );
        assert_eq!(process_root(Path::new("/elsewhere")), None);
    }

    #[test]
    fn debug_files_are_found_by_build_id() {
        assert_eq!(
            build_id_path(&[0xa4, 0x37, 0xbf, 0x05]),
            Some(PathBuf::from("/usr/lib/debug/.build-id/a4/37bf05.debug"))
        );
        assert_eq!(build_id_path(&[0xa4]), None);
        assert_eq!(build_id_path(&[]), None);
    }

    #[test]
    fn names_fit_a_folded_line() {
        assert_eq!(name("a;b\nc"), "a_b_c");
        let long = "x".repeat(1000);
        assert_eq!(name(&long).len(), MAX_NAME_BYTES + '…'.len_utf8());
    }
}
