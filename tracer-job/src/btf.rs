//! Reads the running kernel's BTF (BPF Type Format) for the two facts our probes need at
//! load time: where a struct member sits, and what an enum's names mean. The probes are
//! written without CO-RE, so the tracer looks the layout up here and hands it to them.
//!
//! The format is described in the kernel's `Documentation/bpf/btf.rst`. Only base BTF is
//! read (`/sys/kernel/btf/vmlinux`); module BTF is split against it and is not supported.
//! Malformed input is an error, never a panic.

use std::{
    collections::HashMap,
    fs, io,
    ops::Range,
    path::{Path, PathBuf},
};

/// Where the kernel exposes its own BTF (CONFIG_DEBUG_INFO_BTF).
pub const SYS_FS_VMLINUX: &str = "/sys/kernel/btf/vmlinux";

const MAGIC: u16 = 0xeb9f;
const HEADER_LEN: usize = 24;
const TYPE_LEN: usize = 12;
/// How far typedef chains, arrays of arrays and anonymous members are followed. Real
/// kernels stay in single digits; malformed data could otherwise loop forever.
const MAX_DEPTH: usize = 64;
/// BTF doesn't record the pointer width; the kernels we trace are 64-bit.
const POINTER_SIZE: u32 = 8;

mod kind {
    pub const INT: u8 = 1;
    pub const PTR: u8 = 2;
    pub const ARRAY: u8 = 3;
    pub const STRUCT: u8 = 4;
    pub const UNION: u8 = 5;
    pub const ENUM: u8 = 6;
    pub const FWD: u8 = 7;
    pub const TYPEDEF: u8 = 8;
    pub const VOLATILE: u8 = 9;
    pub const CONST: u8 = 10;
    pub const RESTRICT: u8 = 11;
    pub const FUNC: u8 = 12;
    pub const FUNC_PROTO: u8 = 13;
    pub const VAR: u8 = 14;
    pub const DATASEC: u8 = 15;
    pub const FLOAT: u8 = 16;
    pub const DECL_TAG: u8 = 17;
    pub const TYPE_TAG: u8 = 18;
    pub const ENUM64: u8 = 19;
}

#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error(
        "can't read BTF from {}: {source}; the kernel needs CONFIG_DEBUG_INFO_BTF=y",
        path.display()
    )]
    Read { path: PathBuf, source: io::Error },
    #[error("not BTF data: the magic number is {found:#06x}, expected 0xeb9f")]
    BadMagic { found: u16 },
    #[error("the BTF is big-endian; only little-endian BTF can be read")]
    BigEndian,
    #[error("unsupported BTF version {0}; only version 1 can be read")]
    Version(u8),
    #[error("malformed BTF: {0}")]
    Malformed(String),
    #[error("the kernel's BTF has no struct {0}")]
    NoStruct(String),
    #[error("{owner} has no member {member}")]
    NoMember { owner: String, member: String },
    #[error("no member named for struct {0}; give at least one member name")]
    EmptyPath(String),
    #[error("{path} is a bitfield; only members of whole bytes can be read")]
    Bitfield { path: String },
    #[error(
        "{path} is a pointer, so {next} is not inside it; read the pointer, then look up {next} in the struct it points to"
    )]
    ThroughPointer { path: String, next: String },
    #[error("{path} is not a struct or union, so it has no member {next}")]
    NotComposite { path: String, next: String },
    #[error("the kernel's BTF has no enum {0}")]
    NoEnum(String),
}

fn malformed(what: impl Into<String>) -> BtfError {
    BtfError::Malformed(what.into())
}

/// Where a member sits inside the struct a lookup started from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// Bytes from the start of the outermost struct.
    pub offset: u32,
    /// The member's size in bytes; `None` for types without one (void, functions,
    /// forward declarations).
    pub size: Option<u32>,
}

/// Parsed BTF: the raw bytes, where each type starts, and the named structs, unions and
/// enums by name.
pub struct Btf {
    data: Vec<u8>,
    strings: Range<usize>,
    /// Byte position in `data` of each type's record; type id `n` is at index `n - 1`
    /// (id 0 is void and has no record).
    records: Vec<usize>,
    tags: HashMap<Box<str>, Tagged>,
}

impl std::fmt::Debug for Btf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Btf")
            .field("bytes", &self.data.len())
            .field("types", &self.records.len())
            .field("names", &self.tags.len())
            .finish()
    }
}

/// The types one name can label. C keeps struct, union and enum names in one namespace,
/// but the kernel's BTF merges many compilation units, so keep the first of each.
#[derive(Default)]
struct Tagged {
    strukt: Option<u32>,
    union: Option<u32>,
    enumeration: Option<u32>,
    /// For types known only by a typedef, like `typedef struct { .. } atomic_t`.
    typedef: Option<u32>,
}

/// One type record's fixed part; its kind-specific data follows at `extra`.
#[derive(Clone, Copy)]
struct Type {
    name_off: u32,
    kind: u8,
    kind_flag: bool,
    vlen: usize,
    /// The size for sized kinds, the referenced type id for the others.
    size_or_type: u32,
    extra: usize,
}

/// A member found by name, possibly inside anonymous members.
struct Found {
    type_id: u32,
    bit_offset: u64,
    bitfield: bool,
}

fn u32_at(data: &[u8], pos: usize) -> Option<u32> {
    let bytes = data.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// `len` bytes at `offset` past the header, if they lie within `data`.
fn section(
    data: &[u8],
    base: usize,
    offset: u32,
    len: u32,
    what: &str,
) -> Result<Range<usize>, BtfError> {
    let start = base.checked_add(offset as usize);
    let end = start.and_then(|start| start.checked_add(len as usize));
    match (start, end) {
        (Some(start), Some(end)) if end <= data.len() => Ok(start..end),
        _ => Err(malformed(format!(
            "the {what} section ({len} bytes at {offset}) runs past the end of the data ({} bytes)",
            data.len()
        ))),
    }
}

/// Bytes of kind-specific data after a type record.
fn extra_len(kind: u8, vlen: usize) -> Option<usize> {
    Some(match kind {
        kind::INT | kind::VAR | kind::DECL_TAG => 4,
        kind::ARRAY => 12,
        kind::STRUCT | kind::UNION | kind::DATASEC | kind::ENUM64 => 12 * vlen,
        kind::ENUM | kind::FUNC_PROTO => 8 * vlen,
        kind::PTR
        | kind::FWD
        | kind::TYPEDEF
        | kind::VOLATILE
        | kind::CONST
        | kind::RESTRICT
        | kind::FUNC
        | kind::FLOAT
        | kind::TYPE_TAG => 0,
        _ => return None,
    })
}

impl Btf {
    /// Reads the running kernel's BTF.
    pub fn from_sys_fs() -> Result<Btf, BtfError> {
        Btf::from_file(Path::new(SYS_FS_VMLINUX))
    }

    /// Reads BTF from a file, such as a copy of another machine's vmlinux BTF.
    pub fn from_file(path: &Path) -> Result<Btf, BtfError> {
        let data = fs::read(path).map_err(|source| BtfError::Read {
            path: path.to_owned(),
            source,
        })?;
        Btf::parse(data)
    }

    /// Checks the header, finds every type record and indexes the named structs, unions
    /// and enums.
    pub fn parse(data: Vec<u8>) -> Result<Btf, BtfError> {
        if data.len() < HEADER_LEN {
            return Err(malformed(format!(
                "{} bytes is shorter than the {HEADER_LEN}-byte header",
                data.len()
            )));
        }
        let magic = u16::from_le_bytes([data[0], data[1]]);
        if magic == MAGIC.swap_bytes() {
            return Err(BtfError::BigEndian);
        }
        if magic != MAGIC {
            return Err(BtfError::BadMagic { found: magic });
        }
        if data[2] != 1 {
            return Err(BtfError::Version(data[2]));
        }
        let field = |pos| u32_at(&data, pos).ok_or_else(|| malformed("truncated header"));
        let hdr_len = field(4)? as usize;
        if hdr_len < HEADER_LEN || hdr_len > data.len() {
            return Err(malformed(format!(
                "header length {hdr_len} is outside {HEADER_LEN}..={}",
                data.len()
            )));
        }
        let types = section(&data, hdr_len, field(8)?, field(12)?, "type")?;
        let strings = section(&data, hdr_len, field(16)?, field(20)?, "string")?;
        if strings.is_empty() || data[strings.start] != 0 || data[strings.end - 1] != 0 {
            return Err(malformed(
                "the string section must start and end with a NUL byte",
            ));
        }

        let mut records = Vec::with_capacity(types.len() / (TYPE_LEN + 8));
        let mut pos = types.start;
        while pos < types.end {
            let id = records.len() + 1;
            let info = u32_at(&data, pos + 4)
                .filter(|_| pos + TYPE_LEN <= types.end)
                .ok_or_else(|| malformed(format!("type {id} is cut off")))?;
            let kind = ((info >> 24) & 0x1f) as u8;
            let vlen = (info & 0xffff) as usize;
            let extra = extra_len(kind, vlen)
                .ok_or_else(|| malformed(format!("type {id} has unknown kind {kind}")))?;
            let next = pos + TYPE_LEN + extra;
            if next > types.end {
                return Err(malformed(format!(
                    "type {id} runs past the end of the type section"
                )));
            }
            records.push(pos);
            pos = next;
        }

        let mut btf = Btf {
            data,
            strings,
            records,
            tags: HashMap::new(),
        };
        btf.index_names()?;
        Ok(btf)
    }

    fn index_names(&mut self) -> Result<(), BtfError> {
        let mut tags: HashMap<Box<str>, Tagged> = HashMap::new();
        for id in 1..=self.records.len() as u32 {
            let ty = self.type_at(id)?;
            if ty.name_off == 0
                || !matches!(
                    ty.kind,
                    kind::STRUCT | kind::UNION | kind::ENUM | kind::ENUM64 | kind::TYPEDEF
                )
            {
                continue;
            }
            let name = self.str_at(ty.name_off)?;
            let entry = tags.entry(name.into()).or_default();
            let slot = match ty.kind {
                kind::STRUCT => &mut entry.strukt,
                kind::UNION => &mut entry.union,
                kind::TYPEDEF => &mut entry.typedef,
                _ => &mut entry.enumeration,
            };
            match *slot {
                None => *slot = Some(id),
                // An enum with no values is a forward declaration; prefer the real one.
                Some(seen) if ty.vlen > 0 && self.type_at(seen)?.vlen == 0 => *slot = Some(id),
                Some(_) => {}
            }
        }
        self.tags = tags;
        Ok(())
    }

    /// How many types there are, not counting void.
    pub fn type_count(&self) -> usize {
        self.records.len()
    }

    /// Finds `path` (member names, each inside the previous one) in the struct or union
    /// `struct_name`, or in the one a typedef of that name stands for. Members of
    /// anonymous structs and unions are found as if they were the parent's own, as in C.
    /// The path can't go through a pointer.
    pub fn member(&self, struct_name: &str, path: &[&str]) -> Result<Member, BtfError> {
        let mut owner = self
            .composite_named(struct_name)?
            .ok_or_else(|| BtfError::NoStruct(struct_name.to_owned()))?;
        if path.is_empty() {
            return Err(BtfError::EmptyPath(struct_name.to_owned()));
        }
        let mut walked = struct_name.to_owned();
        let mut bits: u64 = 0;
        let mut size = None;
        for (i, name) in path.iter().enumerate() {
            let found = self
                .find_member(owner, name, 0)?
                .ok_or_else(|| BtfError::NoMember {
                    owner: self.describe(owner, &walked),
                    member: (*name).to_owned(),
                })?;
            walked.push('.');
            walked.push_str(name);
            if found.bitfield {
                return Err(BtfError::Bitfield { path: walked });
            }
            bits = bits.saturating_add(found.bit_offset);
            let Some(next) = path.get(i + 1) else {
                size = self.size_of(found.type_id, 0)?;
                break;
            };
            let (target, ty) =
                self.resolve(found.type_id)?
                    .ok_or_else(|| BtfError::NotComposite {
                        path: walked.clone(),
                        next: (*next).to_owned(),
                    })?;
            match ty.kind {
                kind::STRUCT | kind::UNION => owner = target,
                kind::PTR => {
                    return Err(BtfError::ThroughPointer {
                        path: walked,
                        next: (*next).to_owned(),
                    });
                }
                _ => {
                    return Err(BtfError::NotComposite {
                        path: walked,
                        next: (*next).to_owned(),
                    });
                }
            }
        }
        let offset = u32::try_from(bits / 8)
            .map_err(|_| malformed(format!("{walked} lies beyond 4 GiB")))?;
        Ok(Member { offset, size })
    }

    /// The names and values of enum `name`, in declaration order. Unsigned 64-bit values
    /// above `i64::MAX` come back with the same bits, that is, negative. BTF marks signed
    /// enums with kind_flag since Linux 6.0; older kernels' negative values read as
    /// unsigned 32-bit ones.
    pub fn enum_values(&self, name: &str) -> Result<Vec<(String, i64)>, BtfError> {
        let id = self
            .tags
            .get(name)
            .and_then(|tagged| tagged.enumeration)
            .ok_or_else(|| BtfError::NoEnum(name.to_owned()))?;
        let ty = self.type_at(id)?;
        let stride = if ty.kind == kind::ENUM64 { 12 } else { 8 };
        let mut values = Vec::with_capacity(ty.vlen);
        for i in 0..ty.vlen {
            let pos = ty.extra + i * stride;
            let name_off = self.u32(pos)?;
            let low = self.u32(pos + 4)?;
            let value = match (ty.kind, ty.kind_flag) {
                (kind::ENUM, true) => i64::from(low as i32),
                (kind::ENUM, false) => i64::from(low),
                _ => (u64::from(self.u32(pos + 8)?) << 32 | u64::from(low)) as i64,
            };
            values.push((self.str_at(name_off)?.to_owned(), value));
        }
        Ok(values)
    }

    fn composite_named(&self, name: &str) -> Result<Option<u32>, BtfError> {
        let Some(tagged) = self.tags.get(name) else {
            return Ok(None);
        };
        if let Some(id) = tagged.strukt.or(tagged.union) {
            return Ok(Some(id));
        }
        let Some(typedef) = tagged.typedef else {
            return Ok(None);
        };
        Ok(self
            .resolve(typedef)?
            .filter(|(_, ty)| matches!(ty.kind, kind::STRUCT | kind::UNION))
            .map(|(id, _)| id))
    }

    /// Looks for `name` among the members of struct or union `owner`, descending into
    /// anonymous members. The bit offset is relative to `owner`.
    fn find_member(&self, owner: u32, name: &str, depth: usize) -> Result<Option<Found>, BtfError> {
        if depth > MAX_DEPTH {
            return Err(malformed(format!(
                "anonymous members nest more than {MAX_DEPTH} deep below type {owner}"
            )));
        }
        let ty = self.type_at(owner)?;
        for i in 0..ty.vlen {
            let pos = ty.extra + i * 12;
            let member_name = self.str_at(self.u32(pos)?)?;
            let type_id = self.u32(pos + 4)?;
            let raw_offset = self.u32(pos + 8)?;
            // With kind_flag set, the top byte holds the bitfield size.
            let (bit_offset, bitfield_size) = if ty.kind_flag {
                (raw_offset & 0xff_ffff, raw_offset >> 24)
            } else {
                (raw_offset, 0)
            };
            let bit_offset = u64::from(bit_offset);
            if member_name == name {
                let bitfield =
                    bitfield_size != 0 || bit_offset % 8 != 0 || self.is_int_bitfield(type_id)?;
                return Ok(Some(Found {
                    type_id,
                    bit_offset,
                    bitfield,
                }));
            }
            if member_name.is_empty()
                && let Some((inner, inner_ty)) = self.resolve(type_id)?
                && matches!(inner_ty.kind, kind::STRUCT | kind::UNION)
                && let Some(found) = self.find_member(inner, name, depth + 1)?
            {
                return Ok(Some(Found {
                    bit_offset: bit_offset + found.bit_offset,
                    ..found
                }));
            }
        }
        Ok(None)
    }

    /// Without kind_flag, a bitfield is a member whose int type is narrower than its
    /// storage.
    fn is_int_bitfield(&self, type_id: u32) -> Result<bool, BtfError> {
        let Some((_, ty)) = self.resolve(type_id)? else {
            return Ok(false);
        };
        if ty.kind != kind::INT {
            return Ok(false);
        }
        let encoding = self.u32(ty.extra)?;
        let bits = encoding & 0xff;
        let offset = (encoding >> 16) & 0xff;
        Ok(offset != 0 || u64::from(bits) != u64::from(ty.size_or_type) * 8)
    }

    /// The size in bytes of type `id`, through typedefs, qualifiers and arrays.
    fn size_of(&self, id: u32, depth: usize) -> Result<Option<u32>, BtfError> {
        if depth > MAX_DEPTH {
            return Err(malformed(format!(
                "arrays nest more than {MAX_DEPTH} deep at type {id}"
            )));
        }
        let Some((_, ty)) = self.resolve(id)? else {
            return Ok(None);
        };
        Ok(match ty.kind {
            kind::INT
            | kind::STRUCT
            | kind::UNION
            | kind::ENUM
            | kind::ENUM64
            | kind::FLOAT
            | kind::DATASEC => Some(ty.size_or_type),
            kind::PTR => Some(POINTER_SIZE),
            kind::ARRAY => {
                let element = self.u32(ty.extra)?;
                let count = self.u32(ty.extra + 8)?;
                match self.size_of(element, depth + 1)? {
                    Some(element_size) => {
                        Some(element_size.checked_mul(count).ok_or_else(|| {
                            malformed(format!("array type {id} is larger than 4 GiB"))
                        })?)
                    }
                    None => None,
                }
            }
            _ => None,
        })
    }

    /// Follows typedefs and qualifiers to the type they name; `None` for void.
    fn resolve(&self, mut id: u32) -> Result<Option<(u32, Type)>, BtfError> {
        for _ in 0..MAX_DEPTH {
            if id == 0 {
                return Ok(None);
            }
            let ty = self.type_at(id)?;
            match ty.kind {
                kind::TYPEDEF | kind::VOLATILE | kind::CONST | kind::RESTRICT | kind::TYPE_TAG => {
                    id = ty.size_or_type;
                }
                _ => return Ok(Some((id, ty))),
            }
        }
        Err(malformed(format!(
            "typedefs and qualifiers chain more than {MAX_DEPTH} deep at type {id}"
        )))
    }

    /// `struct foo` for named types, `the anonymous struct at foo.bar` otherwise.
    fn describe(&self, id: u32, walked: &str) -> String {
        let Ok(ty) = self.type_at(id) else {
            return walked.to_owned();
        };
        let kind = if ty.kind == kind::UNION {
            "union"
        } else {
            "struct"
        };
        match self.str_at(ty.name_off) {
            Ok(name) if !name.is_empty() => format!("{kind} {name}"),
            _ => format!("the anonymous {kind} at {walked}"),
        }
    }

    fn type_at(&self, id: u32) -> Result<Type, BtfError> {
        let pos = id
            .checked_sub(1)
            .and_then(|index| self.records.get(index as usize))
            .copied()
            .ok_or_else(|| malformed(format!("type id {id} doesn't exist")))?;
        let info = self.u32(pos + 4)?;
        Ok(Type {
            name_off: self.u32(pos)?,
            kind: ((info >> 24) & 0x1f) as u8,
            kind_flag: info >> 31 == 1,
            vlen: (info & 0xffff) as usize,
            size_or_type: self.u32(pos + 8)?,
            extra: pos + TYPE_LEN,
        })
    }

    fn u32(&self, pos: usize) -> Result<u32, BtfError> {
        u32_at(&self.data, pos).ok_or_else(|| malformed(format!("read past the end at byte {pos}")))
    }

    fn str_at(&self, offset: u32) -> Result<&str, BtfError> {
        let tail = (offset as usize)
            .checked_add(self.strings.start)
            .filter(|&start| start < self.strings.end)
            .and_then(|start| self.data.get(start..self.strings.end))
            .ok_or_else(|| {
                malformed(format!(
                    "string offset {offset} is outside the string section"
                ))
            })?;
        // parse() checked that the section ends with NUL, so one is always found.
        let len = tail
            .iter()
            .position(|&byte| byte == 0)
            .unwrap_or(tail.len());
        std::str::from_utf8(tail.get(..len).unwrap_or_default())
            .map_err(|_| malformed(format!("the string at offset {offset} is not UTF-8")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds BTF blobs type by type, in the kernel's layout.
    struct Blob {
        types: Vec<u8>,
        strings: Vec<u8>,
        count: u32,
    }

    impl Blob {
        fn new() -> Self {
            Blob {
                types: Vec::new(),
                strings: vec![0],
                count: 0,
            }
        }

        fn name(&mut self, name: &str) -> u32 {
            if name.is_empty() {
                return 0;
            }
            let offset = self.strings.len() as u32;
            self.strings.extend(name.as_bytes());
            self.strings.push(0);
            offset
        }

        /// Appends one type record and its kind-specific words; returns its id.
        fn add(
            &mut self,
            name: &str,
            kind: u8,
            kind_flag: bool,
            vlen: u32,
            size_or_type: u32,
            extra: &[u32],
        ) -> u32 {
            let name_off = self.name(name);
            let info = (u32::from(kind_flag) << 31) | (u32::from(kind) << 24) | vlen;
            for word in [name_off, info, size_or_type].iter().chain(extra) {
                self.types.extend(word.to_le_bytes());
            }
            self.count += 1;
            self.count
        }

        fn composite(
            &mut self,
            kind: u8,
            name: &str,
            kind_flag: bool,
            size: u32,
            members: &[(&str, u32, u32)],
        ) -> u32 {
            let mut words = Vec::new();
            for &(member, type_id, offset) in members {
                words.extend([self.name(member), type_id, offset]);
            }
            self.add(name, kind, kind_flag, members.len() as u32, size, &words)
        }

        fn enumeration(&mut self, name: &str, signed: bool, values: &[(&str, i64)]) -> u32 {
            let mut words = Vec::new();
            for &(value_name, value) in values {
                words.extend([self.name(value_name), value as u32]);
            }
            self.add(name, kind::ENUM, signed, values.len() as u32, 4, &words)
        }

        fn enumeration64(&mut self, name: &str, signed: bool, values: &[(&str, u64)]) -> u32 {
            let mut words = Vec::new();
            for &(value_name, value) in values {
                words.extend([self.name(value_name), value as u32, (value >> 32) as u32]);
            }
            self.add(name, kind::ENUM64, signed, values.len() as u32, 8, &words)
        }

        fn bytes(&self) -> Vec<u8> {
            let mut bytes = Vec::new();
            bytes.extend(MAGIC.to_le_bytes());
            bytes.extend([1, 0]);
            let type_len = self.types.len() as u32;
            for word in [
                HEADER_LEN as u32,
                0,
                type_len,
                type_len,
                self.strings.len() as u32,
            ] {
                bytes.extend(word.to_le_bytes());
            }
            bytes.extend(&self.types);
            bytes.extend(&self.strings);
            bytes
        }
    }

    const SIGNED: u32 = 1 << 24;
    const OUTER: u32 = 13;

    /// One of every kind, with the structs and enums the tests look up placed after the
    /// kinds whose trailing data they must skip correctly.
    fn sample() -> Vec<u8> {
        let mut b = Blob::new();
        let int = b.add("int", kind::INT, false, 0, 4, &[SIGNED | 32]);
        let ushort = b.add("unsigned short", kind::INT, false, 0, 2, &[16]);
        let u16_t = b.add("u16", kind::TYPEDEF, false, 0, ushort, &[]);
        let const_u16 = b.add("", kind::CONST, false, 0, u16_t, &[]);
        let port_t = b.add("port_t", kind::TYPEDEF, false, 0, const_u16, &[]);
        let long = b.add("long", kind::INT, false, 0, 8, &[SIGNED | 64]);
        let inner = b.composite(
            kind::STRUCT,
            "inner",
            false,
            8,
            &[("a", int, 0), ("b", int, 32)],
        );
        let halves = b.composite(
            kind::STRUCT,
            "",
            false,
            8,
            &[("lo", int, 0), ("hi", int, 32)],
        );
        let either = b.composite(
            kind::UNION,
            "",
            false,
            8,
            &[("whole", long, 0), ("", halves, 0)],
        );
        let next = b.add("", kind::PTR, false, 0, OUTER, &[]);
        let tail = b.add("", kind::ARRAY, false, 0, 0, &[ushort, int, 4]);
        let owner = b.add("user", kind::TYPE_TAG, false, 0, next, &[]);
        let outer = b.composite(
            kind::STRUCT,
            "outer",
            true,
            48,
            &[
                ("id", int, 0),
                ("flags", int, 3 << 24 | 32),
                ("port", port_t, 48),
                ("", either, 64),
                ("inner", inner, 128),
                ("next", next, 192),
                ("tail", tail, 256),
                ("owner", owner, 320),
            ],
        );
        assert_eq!(outer, OUTER);
        b.add("later", kind::FWD, false, 0, 0, &[]);
        let a = b.name("a");
        let c = b.name("c");
        let proto = b.add("", kind::FUNC_PROTO, false, 2, int, &[a, int, c, long]);
        b.add("do_thing", kind::FUNC, false, 0, proto, &[]);
        let var = b.add("counter", kind::VAR, false, 0, int, &[1]);
        b.add(".data", kind::DATASEC, false, 1, 4, &[var, 0, 4]);
        b.add("double", kind::FLOAT, false, 0, 8, &[]);
        b.add("tag", kind::DECL_TAG, false, 0, outer, &[u32::MAX]);
        b.enumeration("color", true, &[("RED", 0), ("GREEN", 1), ("MINUS", -1)]);
        b.enumeration("wide", false, &[("TOP", 0xffff_ffff)]);
        b.enumeration64("big", false, &[("LARGE", 1 << 40), ("MAX", u64::MAX)]);
        b.enumeration64("sbig", true, &[("NEG", -5i64 as u64)]);
        // A forward declaration of an enum already seen must not hide it.
        b.enumeration("color", false, &[]);
        let bits3 = b.add("bits3", kind::INT, false, 0, 4, &[3]);
        let byte = b.add("u8", kind::INT, false, 0, 1, &[8]);
        b.composite(
            kind::STRUCT,
            "old_style",
            false,
            4,
            &[("bits", bits3, 0), ("odd", byte, 12)],
        );
        let grid = b.add("", kind::ARRAY, false, 0, 0, &[tail, int, 2]);
        b.composite(
            kind::UNION,
            "odd_sizes",
            false,
            16,
            &[("handler", proto, 0), ("grid", grid, 0)],
        );
        b.add("pair_t", kind::TYPEDEF, false, 0, halves, &[]);
        b.bytes()
    }

    fn parsed() -> Btf {
        Btf::parse(sample()).expect("the sample parses")
    }

    fn at(offset: u32, size: u32) -> Member {
        Member {
            offset,
            size: Some(size),
        }
    }

    #[test]
    fn finds_members_directly_and_through_typedefs() {
        let btf = parsed();
        assert_eq!(btf.type_count(), 31);
        assert_eq!(btf.member("outer", &["id"]).unwrap(), at(0, 4));
        assert_eq!(btf.member("outer", &["port"]).unwrap(), at(6, 2));
        assert_eq!(btf.member("outer", &["next"]).unwrap(), at(24, 8));
        assert_eq!(btf.member("outer", &["tail"]).unwrap(), at(32, 8));
        assert_eq!(btf.member("outer", &["owner"]).unwrap(), at(40, 8));
    }

    #[test]
    fn finds_members_inside_anonymous_and_nested_members() {
        let btf = parsed();
        assert_eq!(btf.member("outer", &["whole"]).unwrap(), at(8, 8));
        assert_eq!(btf.member("outer", &["lo"]).unwrap(), at(8, 4));
        assert_eq!(btf.member("outer", &["hi"]).unwrap(), at(12, 4));
        assert_eq!(btf.member("outer", &["inner"]).unwrap(), at(16, 8));
        assert_eq!(btf.member("outer", &["inner", "b"]).unwrap(), at(20, 4));
        assert_eq!(btf.member("pair_t", &["hi"]).unwrap(), at(4, 4));
    }

    #[test]
    fn sizes_of_unions_arrays_and_functions() {
        let btf = parsed();
        assert_eq!(btf.member("odd_sizes", &["grid"]).unwrap(), at(0, 16));
        let handler = btf.member("odd_sizes", &["handler"]).unwrap();
        assert_eq!(
            handler,
            Member {
                offset: 0,
                size: None
            }
        );
    }

    #[test]
    fn refuses_bitfields() {
        let btf = parsed();
        for (name, path) in [
            ("outer", "flags"),
            ("old_style", "bits"),
            ("old_style", "odd"),
        ] {
            let err = btf.member(name, &[path]).unwrap_err();
            assert!(
                matches!(err, BtfError::Bitfield { .. }),
                "{name}.{path}: {err}"
            );
            assert_eq!(
                err.to_string(),
                format!("{name}.{path} is a bitfield; only members of whole bytes can be read")
            );
        }
    }

    #[test]
    fn says_what_is_missing() {
        let btf = parsed();
        let message = |name: &str, path: &[&str]| btf.member(name, path).unwrap_err().to_string();
        assert_eq!(
            message("missing", &["a"]),
            "the kernel's BTF has no struct missing"
        );
        assert_eq!(
            message("port_t", &["a"]),
            "the kernel's BTF has no struct port_t"
        );
        assert_eq!(
            message("color", &["a"]),
            "the kernel's BTF has no struct color"
        );
        assert_eq!(
            message("outer", &["nope"]),
            "struct outer has no member nope"
        );
        assert_eq!(
            message("outer", &["inner", "nope"]),
            "struct inner has no member nope"
        );
        assert_eq!(
            message("odd_sizes", &["nope"]),
            "union odd_sizes has no member nope"
        );
        assert!(
            message("outer", &["next", "id"])
                .starts_with("outer.next is a pointer, so id is not inside it")
        );
        assert_eq!(
            message("outer", &["id", "x"]),
            "outer.id is not a struct or union, so it has no member x"
        );
        assert!(matches!(
            btf.member("outer", &[]),
            Err(BtfError::EmptyPath(_))
        ));
    }

    #[test]
    fn reads_enum_values_by_signedness() {
        let btf = parsed();
        let values = |name| btf.enum_values(name).unwrap();
        let owned = |pairs: &[(&str, i64)]| -> Vec<(String, i64)> {
            pairs
                .iter()
                .map(|&(name, value)| (name.to_owned(), value))
                .collect()
        };
        assert_eq!(
            values("color"),
            owned(&[("RED", 0), ("GREEN", 1), ("MINUS", -1)])
        );
        assert_eq!(values("wide"), owned(&[("TOP", 0xffff_ffff)]));
        assert_eq!(values("big"), owned(&[("LARGE", 1 << 40), ("MAX", -1)]));
        assert_eq!(values("sbig"), owned(&[("NEG", -5)]));
        assert_eq!(
            btf.enum_values("outer").unwrap_err().to_string(),
            "the kernel's BTF has no enum outer"
        );
    }

    fn header(bytes: &mut [u8], field: usize, value: u32) {
        bytes[4 + 4 * field..8 + 4 * field].copy_from_slice(&value.to_le_bytes());
    }

    #[test]
    fn rejects_bad_headers() {
        assert!(matches!(
            Btf::parse(Vec::new()),
            Err(BtfError::Malformed(_))
        ));
        let good = sample();
        let with = |edit: &dyn Fn(&mut Vec<u8>)| {
            let mut bytes = good.clone();
            edit(&mut bytes);
            Btf::parse(bytes).expect_err("parse fails")
        };
        let err = with(&|b| b[..2].copy_from_slice(&[0x7f, b'E']));
        assert!(matches!(err, BtfError::BadMagic { found: 0x457f }), "{err}");
        assert_eq!(
            err.to_string(),
            "not BTF data: the magic number is 0x457f, expected 0xeb9f"
        );
        assert!(matches!(with(&|b| b.swap(0, 1)), BtfError::BigEndian));
        assert!(matches!(with(&|b| b[2] = 2), BtfError::Version(2)));
        for (field, value) in [
            (0, 4),
            (0, u32::MAX),
            (2, u32::MAX),
            (3, u32::MAX),
            (4, 1 << 20),
            (3, 0),
            (4, 0),
        ] {
            let err = with(&|b| header(b, field, value));
            assert!(
                matches!(err, BtfError::Malformed(_)),
                "header field {field} = {value}: {err}"
            );
        }
    }

    #[test]
    fn rejects_bad_type_records() {
        let mut b = Blob::new();
        b.add("odd", 31, false, 0, 0, &[]);
        assert!(
            Btf::parse(b.bytes())
                .unwrap_err()
                .to_string()
                .contains("type 1 has unknown kind 31")
        );

        let mut b = Blob::new();
        b.add("long_struct", kind::STRUCT, false, 5, 8, &[0, 0, 0]);
        assert!(
            Btf::parse(b.bytes())
                .unwrap_err()
                .to_string()
                .contains("type 1 runs past the end")
        );

        let mut b = Blob::new();
        b.add("", kind::STRUCT, false, 0, 8, &[]);
        let mut bytes = b.bytes();
        bytes[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&1000u32.to_le_bytes());
        assert!(
            Btf::parse(bytes)
                .unwrap_err()
                .to_string()
                .contains("string offset 1000")
        );
    }

    #[test]
    fn cycles_end_in_errors() {
        let mut b = Blob::new();
        b.composite(kind::STRUCT, "loop", false, 8, &[("", 1, 0)]);
        let looped = b.add("looped", kind::TYPEDEF, false, 0, 3, &[]);
        assert_eq!(looped, 2);
        b.add("", kind::CONST, false, 0, looped, &[]);
        b.composite(kind::STRUCT, "holder", false, 8, &[("m", looped, 0)]);
        let btf = Btf::parse(b.bytes()).unwrap();
        assert!(matches!(
            btf.member("loop", &["x"]),
            Err(BtfError::Malformed(_))
        ));
        assert!(matches!(
            btf.member("holder", &["m"]),
            Err(BtfError::Malformed(_))
        ));
    }

    /// Looks up everything the sample has, ignoring the answers.
    fn exercise(btf: &Btf) {
        for path in [
            &["id"][..],
            &["lo"],
            &["inner", "b"],
            &["next", "id"],
            &["tail"],
            &["owner"],
            &["flags"],
        ] {
            let _ = btf.member("outer", path);
        }
        let _ = btf.member("odd_sizes", &["grid"]);
        let _ = btf.member("old_style", &["odd"]);
        for name in ["color", "wide", "big", "sbig"] {
            let _ = btf.enum_values(name);
        }
    }

    #[test]
    fn truncated_input_is_an_error() {
        let bytes = sample();
        for len in 0..bytes.len() {
            assert!(
                Btf::parse(bytes[..len].to_vec()).is_err(),
                "{len} bytes parsed"
            );
        }
    }

    #[test]
    fn corrupt_bytes_never_panic() {
        let bytes = sample();
        for pos in 0..bytes.len() {
            for value in [0x00, 0x01, 0x7f, 0xff] {
                let mut corrupt = bytes.clone();
                corrupt[pos] = value;
                if let Ok(btf) = Btf::parse(corrupt) {
                    exercise(&btf);
                }
            }
        }
    }
}
