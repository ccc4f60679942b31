//! JaCoCo execution data: the `.exec` file format and the agent's TCP reply format.
//!
//! A stream is a sequence of blocks, each a type byte and its fields (big-endian, strings in
//! Java's modified UTF-8, probe arrays as a varint length and LSB-first bits). The first block must
//! be a header; a header may appear again anywhere (files written with `append=true` carry one
//! per dump); `0x20` (CMDOK) ends one agent reply. Every length read from the input is checked
//! against the bytes that remain before anything is allocated, so a hostile or truncated stream
//! gives an error naming the input, the byte offset and the block, never a panic.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::io::{self, Write};

pub use crate::java::probes::Probes;

/// Block types (`ExecutionDataWriter`, `RemoteControlWriter`).
pub const BLOCK_HEADER: u8 = 0x01;
pub const BLOCK_SESSIONINFO: u8 = 0x10;
pub const BLOCK_EXECUTIONDATA: u8 = 0x11;
pub const BLOCK_CMDOK: u8 = 0x20;
pub const BLOCK_CMDDUMP: u8 = 0x40;

/// The header's magic number and the only format version (JaCoCo 0.7.3 and later).
pub const MAGIC: u16 = 0xC0C0;
pub const FORMAT_VERSION: u16 = 0x1007;

/// The header block as bytes.
pub const HEADER: [u8; 5] = [BLOCK_HEADER, 0xC0, 0xC0, 0x10, 0x07];

/// The most probes one class can have. JaCoCo's format allows `i32::MAX` (a Java
/// `boolean[]`), but every probe sits on an instruction edge of the class's bytecode (a return,
/// a throw, a branch target), so a class file has fewer than two probes per byte, and covtop
/// reads no class file larger than 32 MiB (`archive::ArchiveLimits`). A count beyond this is
/// refused before anything is allocated or more of a reply is awaited.
pub const MAX_CLASS_PROBES: u32 = 1 << 26;

/// One `SessionInfo` block: which JVM, when its data was started (the agent start or the last
/// reset) and when it was dumped, both in milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: String,
    pub start: i64,
    pub dump: i64,
}

/// The probes of one class: its VM name (`demo/App$Greeter`) and one bit per probe, indexed by
/// probe id ([`Probes`]: the largest array a reply may carry costs its size on the wire, not
/// eight times it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassProbes {
    pub name: String,
    pub probes: Probes,
}

impl ClassProbes {
    /// True when at least one probe is set (only such classes are written to an exec file).
    pub fn any_hit(&self) -> bool {
        self.probes.any()
    }

    /// The number of probes set.
    pub fn hit_count(&self) -> usize {
        self.probes.count_ones()
    }
}

/// The decoded content of one or more exec streams: every session block in order, and the
/// probes of every class, OR-merged by class id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecData {
    pub sessions: Vec<SessionInfo>,
    pub classes: BTreeMap<u64, ClassProbes>,
}

/// Which part of the stream an error was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    Header,
    SessionInfo,
    ExecutionData,
    CmdDump,
    CmdOk,
}

impl std::fmt::Display for BlockKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (name, byte) = match self {
            BlockKind::Header => ("header", BLOCK_HEADER),
            BlockKind::SessionInfo => ("session info", BLOCK_SESSIONINFO),
            BlockKind::ExecutionData => ("execution data", BLOCK_EXECUTIONDATA),
            BlockKind::CmdDump => ("dump command", BLOCK_CMDDUMP),
            BlockKind::CmdOk => ("command ok", BLOCK_CMDOK),
        };
        write!(f, "{name} block (0x{byte:02x})")
    }
}

/// Errors reading or merging execution data. Every variant names the input (`origin`: a file
/// path or a replica address) and, for format errors, the byte offset of the problem.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExecError {
    #[error(
        "{origin}: empty input: expected a JaCoCo exec header (01 c0 c0 10 07); check that the file or agent reply is a JaCoCo exec dump"
    )]
    Empty { origin: String },
    #[error(
        "{origin}: byte {offset}: first block is type 0x{found:02x}, not the exec header (0x01): not JaCoCo execution data (is this a JaCoCo .exec file or a JaCoCo tcpserver port?)"
    )]
    NoHeader {
        origin: String,
        offset: usize,
        found: u8,
    },
    #[error(
        "{origin}: byte {offset}: header magic is 0x{magic:04x}, expected 0xc0c0: not JaCoCo execution data"
    )]
    BadMagic {
        origin: String,
        offset: usize,
        magic: u16,
    },
    #[error(
        "{origin}: byte {offset}: exec format version 0x{version:04x} is not supported (only 0x1007, JaCoCo 0.7.3 and later): use a JaCoCo agent of version 0.7.3 or newer"
    )]
    BadVersion {
        origin: String,
        offset: usize,
        version: u16,
    },
    #[error(
        "{origin}: byte {offset}: unknown block type 0x{block:02x}: the data is corrupt or not from a JaCoCo agent"
    )]
    UnknownBlock {
        origin: String,
        offset: usize,
        block: u8,
    },
    #[error(
        "{origin}: byte {offset}: input ends inside the {field} of a {block}: the dump is truncated (re-dump, or check that the file was completely written)"
    )]
    Truncated {
        origin: String,
        offset: usize,
        block: BlockKind,
        field: &'static str,
    },
    #[error(
        "{origin}: byte {offset}: varint in the {field} of a {block} is longer than 5 bytes or exceeds 32 bits: the data is corrupt"
    )]
    VarIntOverflow {
        origin: String,
        offset: usize,
        block: BlockKind,
        field: &'static str,
    },
    #[error(
        "{origin}: byte {offset}: class {class} declares {count} probes, but only {remaining} bytes remain, or no class can have that many (at most 2^26): the data is corrupt or truncated"
    )]
    ProbeCountTooLarge {
        origin: String,
        offset: usize,
        class: String,
        count: u64,
        remaining: usize,
    },
    #[error(
        "{origin}: byte {offset}: class {class} (id {id:016x}) sends {count} probes, but its class \
         file has {known}: the data was not made by this class (corrupt or hostile); set aside, \
         check the agent that sent it"
    )]
    ProbesBeyondClass {
        origin: String,
        offset: usize,
        class: String,
        id: u64,
        count: u32,
        known: u32,
    },
    #[error(
        "{origin}: byte {offset}: invalid modified UTF-8 in the {field} of a {block}: {detail}"
    )]
    InvalidUtf {
        origin: String,
        offset: usize,
        block: BlockKind,
        field: &'static str,
        detail: &'static str,
    },
    #[error(
        "{origin}: incompatible execution data for class {name} with id {id:016x}: {detail} (the class ids collide or the agents place probes differently; dump the agents separately)"
    )]
    Incompatible {
        origin: String,
        id: u64,
        name: String,
        detail: String,
    },
}

impl ExecError {
    /// The byte offset the error refers to, when it is a format error.
    pub fn offset(&self) -> Option<usize> {
        match self {
            ExecError::NoHeader { offset, .. }
            | ExecError::BadMagic { offset, .. }
            | ExecError::BadVersion { offset, .. }
            | ExecError::UnknownBlock { offset, .. }
            | ExecError::Truncated { offset, .. }
            | ExecError::VarIntOverflow { offset, .. }
            | ExecError::ProbeCountTooLarge { offset, .. }
            | ExecError::ProbesBeyondClass { offset, .. }
            | ExecError::InvalidUtf { offset, .. } => Some(*offset),
            ExecError::Empty { .. } | ExecError::Incompatible { .. } => None,
        }
    }
}

/// One decoded block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Header,
    Session(SessionInfo),
    Class { id: u64, probes: ClassProbes },
    CmdOk,
}

/// The probe count of a class known by id (from its class file), when it is known.
pub type KnownProbes<'a> = &'a dyn Fn(u64) -> Option<u32>;

/// A cursor over a byte slice that reports errors with the origin, offset and current block.
pub struct BlockReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    origin: &'a str,
    seen_header: bool,
    known: Option<KnownProbes<'a>>,
}

impl<'a> BlockReader<'a> {
    pub fn new(bytes: &'a [u8], origin: &'a str) -> Self {
        BlockReader {
            bytes,
            pos: 0,
            origin,
            seen_header: false,
            known: None,
        }
    }

    /// A reader that also refuses a probe array longer than its class has, for the classes
    /// `known` knows (before allocating it).
    pub fn with_known(bytes: &'a [u8], origin: &'a str, known: KnownProbes<'a>) -> Self {
        BlockReader {
            known: Some(known),
            ..BlockReader::new(bytes, origin)
        }
    }

    /// The offset of the next unread byte.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn truncated(&self, block: BlockKind, field: &'static str) -> ExecError {
        ExecError::Truncated {
            origin: self.origin.to_string(),
            offset: self.bytes.len(),
            block,
            field,
        }
    }

    fn take(
        &mut self,
        n: usize,
        block: BlockKind,
        field: &'static str,
    ) -> Result<&'a [u8], ExecError> {
        if self.remaining() < n {
            return Err(self.truncated(block, field));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self, block: BlockKind, field: &'static str) -> Result<u8, ExecError> {
        Ok(self.take(1, block, field)?[0])
    }

    fn u16(&mut self, block: BlockKind, field: &'static str) -> Result<u16, ExecError> {
        let b = self.take(2, block, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn i64(&mut self, block: BlockKind, field: &'static str) -> Result<i64, ExecError> {
        let b = self.take(8, block, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    fn varint(&mut self, block: BlockKind, field: &'static str) -> Result<u32, ExecError> {
        let start = self.pos;
        let mut value: u32 = 0;
        for i in 0..5 {
            let b = self.u8(block, field)?;
            // The fifth group holds bits 28..31 only: anything above is not a Java int.
            if i == 4 && b > 0x0F {
                return Err(ExecError::VarIntOverflow {
                    origin: self.origin.to_string(),
                    offset: start,
                    block,
                    field,
                });
            }
            value |= u32::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ExecError::VarIntOverflow {
            origin: self.origin.to_string(),
            offset: start,
            block,
            field,
        })
    }

    fn utf(&mut self, block: BlockKind, field: &'static str) -> Result<String, ExecError> {
        let len = usize::from(self.u16(block, field)?);
        let start = self.pos;
        let raw = self.take(len, block, field)?;
        decode_modified_utf8(raw).map_err(|(at, detail)| ExecError::InvalidUtf {
            origin: self.origin.to_string(),
            offset: start + at,
            block,
            field,
            detail,
        })
    }

    fn header_fields(&mut self) -> Result<(), ExecError> {
        let at = self.pos;
        let magic = self.u16(BlockKind::Header, "magic number")?;
        if magic != MAGIC {
            return Err(ExecError::BadMagic {
                origin: self.origin.to_string(),
                offset: at,
                magic,
            });
        }
        let at = self.pos;
        let version = self.u16(BlockKind::Header, "format version")?;
        if version != FORMAT_VERSION {
            return Err(ExecError::BadVersion {
                origin: self.origin.to_string(),
                offset: at,
                version,
            });
        }
        Ok(())
    }

    fn class_fields(&mut self) -> Result<Block, ExecError> {
        let kind = BlockKind::ExecutionData;
        let id = self.i64(kind, "class id")? as u64;
        let name = self.utf(kind, "class name")?;
        let at = self.pos;
        let count = self.varint(kind, "probe count")?;
        if let Some(known) = self.known.and_then(|k| k(id))
            && count > known
        {
            return Err(ExecError::ProbesBeyondClass {
                origin: self.origin.to_string(),
                offset: at,
                class: name,
                id,
                count,
                known,
            });
        }
        let bytes_needed = count.div_ceil(8) as usize;
        if count > MAX_CLASS_PROBES || bytes_needed > self.remaining() {
            return Err(ExecError::ProbeCountTooLarge {
                origin: self.origin.to_string(),
                offset: at,
                class: name,
                count: u64::from(count),
                remaining: self.remaining(),
            });
        }
        let packed = self.take(bytes_needed, kind, "probes")?;
        let probes = Probes::from_packed(packed, count as usize);
        Ok(Block::Class {
            id,
            probes: ClassProbes { name, probes },
        })
    }

    /// Reads the next block, or `None` at the end of the input.
    pub fn next_block(&mut self) -> Result<Option<Block>, ExecError> {
        if self.pos >= self.bytes.len() {
            if !self.seen_header {
                return Err(ExecError::Empty {
                    origin: self.origin.to_string(),
                });
            }
            return Ok(None);
        }
        let at = self.pos;
        let ty = self.bytes[at];
        if !self.seen_header && ty != BLOCK_HEADER {
            return Err(ExecError::NoHeader {
                origin: self.origin.to_string(),
                offset: at,
                found: ty,
            });
        }
        self.pos += 1;
        match ty {
            BLOCK_HEADER => {
                self.header_fields()?;
                self.seen_header = true;
                Ok(Some(Block::Header))
            }
            BLOCK_SESSIONINFO => {
                let kind = BlockKind::SessionInfo;
                let id = self.utf(kind, "session id")?;
                let start = self.i64(kind, "start time")?;
                let dump = self.i64(kind, "dump time")?;
                Ok(Some(Block::Session(SessionInfo { id, start, dump })))
            }
            BLOCK_EXECUTIONDATA => self.class_fields().map(Some),
            BLOCK_CMDOK => Ok(Some(Block::CmdOk)),
            block => Err(ExecError::UnknownBlock {
                origin: self.origin.to_string(),
                offset: at,
                block,
            }),
        }
    }
}

/// Decodes Java's modified UTF-8: `C0 80` for NUL, and characters outside the BMP as two
/// 3-byte surrogates (CESU-8). A surrogate without its pair (legal in a JVM string, so in a
/// class name) becomes U+FFFD, as the class-file reader decodes it, so the data still matches
/// its class. On error, returns the offset within `raw` and what is wrong.
pub fn decode_modified_utf8(raw: &[u8]) -> Result<String, (usize, &'static str)> {
    // Fast path: plain ASCII without NUL is the same in every encoding.
    if raw.iter().all(|&b| b != 0 && b < 0x80) {
        return String::from_utf8(raw.to_vec()).map_err(|_| (0, "not ASCII"));
    }
    let mut units: Vec<u16> = Vec::with_capacity(raw.len());
    let mut i = 0;
    let cont = |i: usize| -> Result<u16, (usize, &'static str)> {
        match raw.get(i) {
            Some(&b) if b & 0xC0 == 0x80 => Ok(u16::from(b & 0x3F)),
            Some(_) => Err((i, "expected a continuation byte (10xxxxxx)")),
            None => Err((i, "string ends inside a multi-byte character")),
        }
    };
    while i < raw.len() {
        let b = raw[i];
        if b == 0 {
            return Err((i, "raw NUL byte (modified UTF-8 writes NUL as C0 80)"));
        } else if b < 0x80 {
            units.push(u16::from(b));
            i += 1;
        } else if b & 0xE0 == 0xC0 {
            units.push((u16::from(b & 0x1F) << 6) | cont(i + 1)?);
            i += 2;
        } else if b & 0xF0 == 0xE0 {
            units.push((u16::from(b & 0x0F) << 12) | (cont(i + 1)? << 6) | cont(i + 2)?);
            i += 3;
        } else {
            return Err((
                i,
                "byte is not a valid modified UTF-8 lead byte (4-byte UTF-8 is not allowed: use surrogate pairs)",
            ));
        }
    }
    Ok(String::from_utf16_lossy(&units))
}

/// Encodes a string as Java's `writeUTF` would: a u16 length and modified UTF-8.
pub fn encode_modified_utf8(s: &str) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() + 2);
    out.extend_from_slice(&[0, 0]);
    for unit in s.encode_utf16() {
        match unit {
            0x0001..=0x007F => out.push(unit as u8),
            0x0000 | 0x0080..=0x07FF => {
                out.push(0xC0 | (unit >> 6) as u8);
                out.push(0x80 | (unit & 0x3F) as u8);
            }
            _ => {
                out.push(0xE0 | (unit >> 12) as u8);
                out.push(0x80 | ((unit >> 6) & 0x3F) as u8);
                out.push(0x80 | (unit & 0x3F) as u8);
            }
        }
    }
    let len = u16::try_from(out.len() - 2).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "string of {} bytes is too long for the exec format (at most 65535 bytes)",
                out.len() - 2
            ),
        )
    })?;
    out[..2].copy_from_slice(&len.to_be_bytes());
    Ok(out)
}

fn write_varint(out: &mut Vec<u8>, mut v: u32) {
    while v > 0x7F {
        out.push(0x80 | (v & 0x7F) as u8);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Where one agent reply ends in a growing buffer, for a client reading from a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyScan {
    /// More bytes are needed; `complete` bytes form whole blocks.
    Incomplete { complete: usize },
    /// The reply ends at `cmdok`: the offset of the `0x20` byte.
    Done { cmdok: usize },
}

/// Scans `buf` (everything received so far) for the end of one agent reply: blocks up to and
/// including CMDOK. A block cut off at the end of `buf` is not an error here (more bytes may
/// come); any other format error is. `resume` is a `complete` offset from an earlier call.
pub fn scan_reply(buf: &[u8], origin: &str, resume: usize) -> Result<ReplyScan, ExecError> {
    let mut reader = BlockReader::new(buf, origin);
    if resume > 0 {
        reader.pos = resume;
        reader.seen_header = true;
    }
    loop {
        let at = reader.pos;
        if at >= buf.len() {
            return Ok(ReplyScan::Incomplete { complete: at });
        }
        match reader.next_block() {
            Ok(Some(Block::CmdOk)) => return Ok(ReplyScan::Done { cmdok: at }),
            Ok(Some(_)) => {}
            Ok(None) => return Ok(ReplyScan::Incomplete { complete: at }),
            Err(ExecError::Truncated { .. }) => return Ok(ReplyScan::Incomplete { complete: at }),
            // A probe count beyond the bytes received so far may just be a partial read: wait
            // for more unless the count is impossible in itself.
            Err(ExecError::ProbeCountTooLarge { count, .. })
                if count <= u64::from(MAX_CLASS_PROBES) =>
            {
                return Ok(ReplyScan::Incomplete { complete: at });
            }
            Err(e) => return Err(e),
        }
    }
}

/// Parses an exec file or an agent reply. Headers may repeat; CMDOK blocks are accepted (a
/// stream of several replies parses as their union). Classes seen twice are OR-merged.
pub fn parse(bytes: &[u8], origin: &str) -> Result<ExecData, ExecError> {
    parse_blocks(BlockReader::new(bytes, origin), origin)
}

/// Like [`parse`], and a class whose probe array is longer than `known` says its class has is
/// refused ([`ExecError::ProbesBeyondClass`]) before the array is read.
pub fn parse_known(
    bytes: &[u8],
    origin: &str,
    known: KnownProbes<'_>,
) -> Result<ExecData, ExecError> {
    parse_blocks(BlockReader::with_known(bytes, origin, known), origin)
}

fn parse_blocks(mut reader: BlockReader<'_>, origin: &str) -> Result<ExecData, ExecError> {
    let mut data = ExecData::default();
    while let Some(block) = reader.next_block()? {
        match block {
            Block::Header | Block::CmdOk => {}
            Block::Session(s) => data.sessions.push(s),
            Block::Class { id, probes } => data.merge_class(id, probes, origin)?,
        }
    }
    Ok(data)
}

impl ExecData {
    fn merge_class(
        &mut self,
        id: u64,
        incoming: ClassProbes,
        origin: &str,
    ) -> Result<(), ExecError> {
        match self.classes.entry(id) {
            Entry::Vacant(v) => {
                v.insert(incoming);
            }
            Entry::Occupied(mut o) => {
                let have = o.get_mut();
                if have.name != incoming.name {
                    return Err(ExecError::Incompatible {
                        origin: origin.to_string(),
                        id,
                        name: have.name.clone(),
                        detail: format!("the other data names it {}", incoming.name),
                    });
                }
                if have.probes.len() != incoming.probes.len() {
                    return Err(ExecError::Incompatible {
                        origin: origin.to_string(),
                        id,
                        name: have.name.clone(),
                        detail: format!(
                            "{} probes here, {} in the other data",
                            have.probes.len(),
                            incoming.probes.len()
                        ),
                    });
                }
                have.probes.or_assign(&incoming.probes);
            }
        }
        Ok(())
    }

    /// OR-merges `other` into `self` by class id and appends its sessions. The same id with
    /// another class name or probe count is an error naming the class and id; on error `self`
    /// may hold the classes merged before the conflicting one, so merge into a copy if that
    /// matters.
    pub fn merge(&mut self, other: &ExecData) -> Result<(), ExecError> {
        // Check first, so that a conflict leaves `self` untouched.
        for (id, theirs) in &other.classes {
            if let Some(ours) = self.classes.get(id)
                && (ours.name != theirs.name || ours.probes.len() != theirs.probes.len())
            {
                let detail = if ours.name != theirs.name {
                    format!("the other data names it {}", theirs.name)
                } else {
                    format!(
                        "{} probes here, {} in the other data",
                        ours.probes.len(),
                        theirs.probes.len()
                    )
                };
                return Err(ExecError::Incompatible {
                    origin: "merge".to_string(),
                    id: *id,
                    name: ours.name.clone(),
                    detail,
                });
            }
        }
        for (id, theirs) in &other.classes {
            self.merge_class(*id, theirs.clone(), "merge")?;
        }
        self.sessions.extend(other.sessions.iter().cloned());
        Ok(())
    }

    /// The ids under which a class name has data. A class file whose own id is not among them
    /// was built from other bytes than the running one (JaCoCo's "no match").
    pub fn ids_for_name(&self, vm_name: &str) -> Vec<u64> {
        self.classes
            .iter()
            .filter(|(_, c)| c.name == vm_name)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The newest session (by dump time), if any.
    pub fn latest_session(&self) -> Option<&SessionInfo> {
        self.sessions.iter().max_by_key(|s| (s.dump, s.start))
    }

    /// Writes an exec file JaCoCo can load: a header, the sessions, then one execution-data block
    /// per class with at least one probe set (as the agent does; empty classes are skipped).
    pub fn write<W: Write>(&self, mut w: W) -> io::Result<()> {
        let mut out = Vec::with_capacity(64 + self.classes.len() * 64);
        out.extend_from_slice(&HEADER);
        for s in &self.sessions {
            out.push(BLOCK_SESSIONINFO);
            out.extend_from_slice(&encode_modified_utf8(&s.id)?);
            out.extend_from_slice(&s.start.to_be_bytes());
            out.extend_from_slice(&s.dump.to_be_bytes());
        }
        for (id, class) in &self.classes {
            if !class.any_hit() {
                continue;
            }
            let count = u32::try_from(class.probes.len())
                .ok()
                .filter(|&c| c <= MAX_CLASS_PROBES)
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("class {} has too many probes", class.name),
                    )
                })?;
            out.push(BLOCK_EXECUTIONDATA);
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&encode_modified_utf8(&class.name)?);
            write_varint(&mut out, count);
            out.extend(class.probes.packed());
        }
        w.write_all(&out)?;
        w.flush()
    }

    /// [`ExecData::write`] into a new buffer.
    pub fn to_bytes(&self) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        self.write(&mut v)?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump1() -> Vec<u8> {
        // The agent reply from the spec (§1.3), without CMDOK.
        let hex = "01c0c010071000 0a64656d6f2d706f642d31 0000 01a1 ff68 0441 0000 01a1 ff68 1008 \
                   1133ceb0bc49666df7 0010 64656d6f2f41707024477265657465 72 0101 \
                   11348e8a3be340106c 0008 64656d6f2f417070 19bcbbdf01";
        let hex: String = hex.chars().filter(|c| !c.is_whitespace()).collect();
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    fn probes(s: &str) -> Probes {
        s.chars().map(|c| c == '1').collect()
    }

    #[test]
    fn parses_the_spec_exchange() {
        let bytes = dump1();
        assert_eq!(bytes.len(), 87);
        let data = parse(&bytes, "dump1").unwrap();
        assert_eq!(
            data.sessions,
            vec![SessionInfo {
                id: "demo-pod-1".into(),
                start: 1795286369345,
                dump: 1795286372360
            }]
        );
        assert_eq!(data.classes.len(), 2);
        let greeter = &data.classes[&0x33ceb0bc49666df7];
        assert_eq!(greeter.name, "demo/App$Greeter");
        assert_eq!(greeter.probes, vec![true]);
        let app = &data.classes[&0x348e8a3be340106c];
        assert_eq!(app.name, "demo/App");
        assert_eq!(app.probes, probes("0011110111011101111110111"));
        assert_eq!(data.ids_for_name("demo/App"), vec![0x348e8a3be340106c]);
        assert!(data.ids_for_name("demo/Other").is_empty());
        assert_eq!(data.latest_session().map(|s| s.dump), Some(1795286372360));
    }

    #[test]
    fn write_reproduces_the_agent_bytes() {
        let bytes = dump1();
        let data = parse(&bytes, "dump1").unwrap();
        // The agent writes classes in hash order; we write by id. Both ids here are in
        // ascending order in the dump, so the bytes are identical.
        assert_eq!(data.to_bytes().unwrap(), bytes);
    }

    #[test]
    fn cmdok_and_repeated_headers_are_accepted() {
        let mut bytes = dump1();
        bytes.push(BLOCK_CMDOK);
        bytes.extend_from_slice(&dump1());
        bytes.push(BLOCK_CMDOK);
        let data = parse(&bytes, "two replies").unwrap();
        assert_eq!(data.sessions.len(), 2);
        assert_eq!(data.classes.len(), 2);
    }

    #[test]
    fn scan_reply_finds_cmdok_and_waits_for_partial_blocks() {
        let mut bytes = dump1();
        bytes.push(BLOCK_CMDOK);
        for cut in 0..bytes.len() {
            match scan_reply(&bytes[..cut], "x", 0) {
                Ok(ReplyScan::Incomplete { complete }) => assert!(complete <= cut),
                other => panic!("cut {cut}: {other:?}"),
            }
        }
        assert_eq!(
            scan_reply(&bytes, "x", 0),
            Ok(ReplyScan::Done { cmdok: 87 })
        );
        assert_eq!(
            scan_reply(b"HTTP/1.1 400 Bad Request", "x", 0),
            Err(ExecError::NoHeader {
                origin: "x".into(),
                offset: 0,
                found: b'H'
            })
        );
    }

    #[test]
    fn every_truncation_is_an_error_never_a_panic() {
        let bytes = dump1();
        // Block boundaries: cutting exactly there is a valid (shorter) stream.
        let boundaries = [5usize, 5 + 1 + 12 + 16, 5 + 29 + 29, 87];
        for cut in 0..bytes.len() {
            let r = parse(&bytes[..cut], "cut");
            if boundaries.contains(&cut) {
                assert!(r.is_ok(), "cut at block boundary {cut}: {r:?}");
            } else {
                let e = r.expect_err("truncated stream must fail");
                assert!(
                    matches!(
                        e,
                        ExecError::Truncated { .. }
                            | ExecError::Empty { .. }
                            | ExecError::ProbeCountTooLarge { .. }
                    ),
                    "cut {cut}: {e}"
                );
                assert!(e.to_string().starts_with("cut"), "{e}");
            }
        }
    }

    #[test]
    fn bad_magic_version_and_block_type() {
        let e = parse(&[1, 0xC0, 0xC1, 0x10, 0x07], "f.exec").unwrap_err();
        assert!(matches!(
            e,
            ExecError::BadMagic {
                offset: 1,
                magic: 0xC0C1,
                ..
            }
        ));
        assert!(e.to_string().contains("f.exec: byte 1"), "{e}");
        let e = parse(&[1, 0xC0, 0xC0, 0x10, 0x06], "f.exec").unwrap_err();
        assert!(matches!(
            e,
            ExecError::BadVersion {
                offset: 3,
                version: 0x1006,
                ..
            }
        ));
        let mut bytes = HEADER.to_vec();
        bytes.push(0x7F);
        let e = parse(&bytes, "f.exec").unwrap_err();
        assert_eq!(
            e,
            ExecError::UnknownBlock {
                origin: "f.exec".into(),
                offset: 5,
                block: 0x7F
            }
        );
        assert!(e.to_string().contains("unknown block type 0x7f"));
        let e = parse(&[0x10, 0, 0], "f.exec").unwrap_err();
        assert!(matches!(e, ExecError::NoHeader { found: 0x10, .. }));
        assert!(matches!(
            parse(&[], "f").unwrap_err(),
            ExecError::Empty { .. }
        ));
    }

    fn class_block(count_varint: &[u8], tail: &[u8]) -> Vec<u8> {
        let mut b = HEADER.to_vec();
        b.push(BLOCK_EXECUTIONDATA);
        b.extend_from_slice(&7u64.to_be_bytes());
        b.extend_from_slice(&[0, 1, b'A']);
        b.extend_from_slice(count_varint);
        b.extend_from_slice(tail);
        b
    }

    #[test]
    fn varint_overflow_and_huge_probe_counts() {
        let e = parse(
            &class_block(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01], &[]),
            "v",
        )
        .unwrap_err();
        assert!(
            matches!(e, ExecError::VarIntOverflow { offset: 17, .. }),
            "{e}"
        );
        let e = parse(&class_block(&[0xFF, 0xFF, 0xFF, 0xFF, 0x1F], &[]), "v").unwrap_err();
        assert!(matches!(e, ExecError::VarIntOverflow { .. }), "{e}");
        // 2^31 = 80 80 80 80 08: too large for a Java array, and far beyond the input.
        let e = parse(&class_block(&[0x80, 0x80, 0x80, 0x80, 0x08], &[0; 16]), "v").unwrap_err();
        match e {
            ExecError::ProbeCountTooLarge { count, class, .. } => {
                assert_eq!(count, 1 << 31);
                assert_eq!(class, "A");
            }
            other => panic!("{other}"),
        }
        // A count that needs 2 bytes with 1 present.
        let e = parse(&class_block(&[9], &[0xFF]), "v").unwrap_err();
        assert!(matches!(
            e,
            ExecError::ProbeCountTooLarge {
                count: 9,
                remaining: 1,
                ..
            }
        ));
        // Maximum valid 5-byte varint shape still parses when the bytes exist.
        let ok = parse(&class_block(&[0x81, 0x80, 0x80, 0x80, 0x00], &[0x01]), "v").unwrap();
        assert_eq!(ok.classes[&7].probes, vec![true]);
    }

    #[test]
    fn a_probe_array_longer_than_its_known_class_is_refused_before_reading_it() {
        // Class 7 ("A") has 3 probes in its class file; the data claims 9 (2 bytes present).
        let known = |id: u64| (id == 7).then_some(3);
        let bytes = class_block(&[9], &[0xFF, 0x01]);
        let e = parse_known(&bytes, "shop/r-1 dump", &known).unwrap_err();
        match &e {
            ExecError::ProbesBeyondClass {
                class,
                id,
                count,
                known,
                offset,
                ..
            } => {
                assert_eq!((class.as_str(), *id, *count, *known), ("A", 7, 9, 3));
                assert_eq!(*offset, 17);
            }
            other => panic!("{other}"),
        }
        let text = e.to_string();
        for part in ["shop/r-1 dump", "class A", "9 probes", "has 3"] {
            assert!(text.contains(part), "{part}: {text}");
        }
        // A count beyond the bytes left names the known class too, before allocating.
        let huge = class_block(&[0x80, 0x80, 0x80, 0x80, 0x07], &[]);
        assert!(matches!(
            parse_known(&huge, "o", &known),
            Err(ExecError::ProbesBeyondClass { .. })
        ));
        // Exactly the known count, an unknown class, or no knowledge: decoded as before.
        let exact = class_block(&[3], &[0b101]);
        assert_eq!(
            parse_known(&exact, "o", &known).unwrap().classes[&7].probes,
            [true, false, true]
        );
        let unknown = |_: u64| None;
        assert_eq!(
            parse_known(&bytes, "o", &unknown).unwrap().classes[&7]
                .probes
                .len(),
            9
        );
        assert_eq!(parse(&bytes, "o").unwrap().classes[&7].probes.len(), 9);
    }

    #[test]
    fn a_class_name_with_an_unpaired_surrogate_decodes() {
        // The JVM allows a lone surrogate in a class name; the agent writes it as CESU-8.
        let name = [b'a', b'/', 0xED, 0xA0, 0xBD, b'X'];
        let mut b = HEADER.to_vec();
        b.push(BLOCK_EXECUTIONDATA);
        b.extend_from_slice(&9u64.to_be_bytes());
        b.extend_from_slice(&(name.len() as u16).to_be_bytes());
        b.extend_from_slice(&name);
        b.extend_from_slice(&[3, 0b101]);
        b.push(BLOCK_CMDOK);
        assert_eq!(
            scan_reply(&b, "agent", 0),
            Ok(ReplyScan::Done { cmdok: b.len() - 1 })
        );
        let data = parse(&b, "agent").unwrap();
        assert_eq!(data.classes[&9].name, "a/\u{FFFD}X");
        assert_eq!(data.classes[&9].probes, [true, false, true]);
    }

    #[test]
    fn probe_counts_no_class_can_have_are_refused_before_allocating() {
        // 2^28 probes with every byte present (32 MiB): a valid JaCoCo array, but more probes
        // than a class of at most 32 MiB can carry. Refused at once, and a reader of a growing
        // reply does not wait for the rest of it.
        let count = 1u32 << 28;
        let mut varint = Vec::new();
        write_varint(&mut varint, count);
        let bytes = class_block(&varint, &vec![0xFF; (count / 8) as usize]);
        let e = parse(&bytes, "huge.exec").unwrap_err();
        assert!(
            matches!(e, ExecError::ProbeCountTooLarge { count: c, .. } if c == u64::from(count)),
            "{e}"
        );
        assert!(e.to_string().contains("huge.exec"), "{e}");
        let e = scan_reply(&bytes[..64], "agent", 0).unwrap_err();
        assert!(matches!(e, ExecError::ProbeCountTooLarge { .. }), "{e}");
        // The largest count a class can have still parses, as bits.
        let mut varint = Vec::new();
        write_varint(&mut varint, MAX_CLASS_PROBES);
        let bytes = class_block(&varint, &vec![0x55; (MAX_CLASS_PROBES / 8) as usize]);
        let ok = parse(&bytes, "v").unwrap();
        assert_eq!(ok.classes[&7].probes.len(), MAX_CLASS_PROBES as usize);
        assert_eq!(ok.classes[&7].hit_count(), MAX_CLASS_PROBES as usize / 2);
        // And a shorter claim with fewer bytes than it needs waits for them on the wire.
        assert!(matches!(
            scan_reply(&bytes[..64], "agent", 0),
            Ok(ReplyScan::Incomplete { .. })
        ));
    }

    #[test]
    fn modified_utf8_round_trip() {
        for s in ["", "a/B", "é", "\0x\0", "日本", "😀z", "demo/App$Greeter"] {
            let enc = encode_modified_utf8(s).unwrap();
            assert_eq!(decode_modified_utf8(&enc[2..]), Ok(s.to_string()), "{s:?}");
        }
        assert_eq!(encode_modified_utf8("\0").unwrap(), vec![0, 2, 0xC0, 0x80]);
        // U+1F600 as CESU-8: surrogates D83D DE00.
        assert_eq!(
            encode_modified_utf8("😀").unwrap(),
            vec![0, 6, 0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80]
        );
        assert!(decode_modified_utf8(&[0xF0, 0x9F, 0x98, 0x80]).is_err());
        assert!(decode_modified_utf8(&[0x41, 0]).is_err());
        assert!(decode_modified_utf8(&[0xC3]).is_err());
        // A lone surrogate is legal in the JVM: decoded as the class-file reader does.
        assert_eq!(
            decode_modified_utf8(&[b'a', 0xED, 0xA0, 0xBD, b'/', b'B']),
            Ok("a\u{FFFD}/B".to_string())
        );
        assert!(encode_modified_utf8(&"x".repeat(65536)).is_err());
        assert!(encode_modified_utf8(&"x".repeat(65535)).is_ok());
    }

    #[test]
    fn invalid_utf_in_a_class_name_names_the_offset() {
        let mut b = HEADER.to_vec();
        b.push(BLOCK_EXECUTIONDATA);
        b.extend_from_slice(&7u64.to_be_bytes());
        b.extend_from_slice(&[0, 2, b'A', 0xFF, 1, 1]);
        let e = parse(&b, "r").unwrap_err();
        assert!(
            matches!(
                e,
                ExecError::InvalidUtf {
                    offset: 17,
                    field: "class name",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn merge_ors_and_rejects_incompatible_classes() {
        let mut a = ExecData::default();
        a.classes.insert(
            1,
            ClassProbes {
                name: "p/A".into(),
                probes: probes("1000"),
            },
        );
        let mut b = ExecData::default();
        b.classes.insert(
            1,
            ClassProbes {
                name: "p/A".into(),
                probes: probes("0010"),
            },
        );
        b.classes.insert(
            2,
            ClassProbes {
                name: "p/B".into(),
                probes: probes("1"),
            },
        );
        a.merge(&b).unwrap();
        assert_eq!(a.classes[&1].probes, probes("1010"));
        assert_eq!(a.classes[&2].probes, probes("1"));

        let mut c = ExecData::default();
        c.classes.insert(
            1,
            ClassProbes {
                name: "p/A".into(),
                probes: probes("10"),
            },
        );
        let before = a.clone();
        let e = a.merge(&c).unwrap_err();
        assert!(
            e.to_string().contains("p/A with id 0000000000000001"),
            "{e}"
        );
        assert_eq!(a, before, "a failed merge leaves the data untouched");
        let mut d = ExecData::default();
        d.classes.insert(
            2,
            ClassProbes {
                name: "p/Other".into(),
                probes: probes("1"),
            },
        );
        assert!(a.merge(&d).unwrap_err().to_string().contains("p/Other"));
    }

    #[test]
    fn write_skips_classes_without_hits_and_round_trips() {
        let mut a = ExecData::default();
        a.sessions.push(SessionInfo {
            id: "pod-\u{0}é😀".into(),
            start: -1,
            dump: i64::MAX,
        });
        a.classes.insert(
            u64::MAX,
            ClassProbes {
                name: "p/A".into(),
                probes: probes("000000001"),
            },
        );
        a.classes.insert(
            3,
            ClassProbes {
                name: "p/B".into(),
                probes: probes("000"),
            },
        );
        a.classes.insert(
            4,
            ClassProbes {
                name: "p/C".into(),
                probes: vec![true; 300].into(),
            },
        );
        let back = parse(&a.to_bytes().unwrap(), "rt").unwrap();
        a.classes.remove(&3);
        assert_eq!(back, a);
    }

    /// A small deterministic generator, so the loop below is reproducible without a dependency.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn random_bytes_and_mutations_never_panic() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let seed = dump1();
        for round in 0..20_000 {
            let bytes: Vec<u8> = if round % 2 == 0 {
                let len = (rng.next() % 64) as usize;
                let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                if round % 4 == 0 {
                    b.splice(0..0, HEADER);
                }
                b
            } else {
                let mut b = seed.clone();
                for _ in 0..1 + rng.next() % 4 {
                    let i = (rng.next() as usize) % b.len();
                    b[i] = rng.next() as u8;
                }
                b
            };
            let _ = parse(&bytes, "fuzz");
            let _ = scan_reply(&bytes, "fuzz", 0);
        }
    }
}
