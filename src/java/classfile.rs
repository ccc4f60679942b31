//! A bounded, panic-free reader for JVM class files, decoding what coverage analysis needs:
//! the constant pool, methods with their bytecode decoded into instructions, exception tables,
//! line numbers, the offsets where ASM would place labels, and the annotations the filters read.
//!
//! Every length read from the file is checked against the bytes that remain before anything is
//! allocated, so garbage or truncated input yields a [`ClassFileError`] naming the offset and the
//! structure, never a panic.

use thiserror::Error;

/// Why a class file could not be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ClassFileError {
    #[error(
        "class file truncated at offset {offset} while reading {what}: the file is cut short or not a class file"
    )]
    Truncated { offset: usize, what: &'static str },
    #[error("not a class file: magic number {found:#010x} at offset 0 (expected 0xcafebabe)")]
    BadMagic { found: u32 },
    #[error("malformed class file at offset {offset}: {what}")]
    Malformed { offset: usize, what: String },
}

fn malformed(offset: usize, what: impl Into<String>) -> ClassFileError {
    ClassFileError::Malformed {
        offset,
        what: what.into(),
    }
}

pub const ACC_PUBLIC: u16 = 0x0001;
pub const ACC_PRIVATE: u16 = 0x0002;
pub const ACC_STATIC: u16 = 0x0008;
pub const ACC_SYNCHRONIZED: u16 = 0x0020;
pub const ACC_BRIDGE: u16 = 0x0040;
pub const ACC_NATIVE: u16 = 0x0100;
pub const ACC_INTERFACE: u16 = 0x0200;
pub const ACC_ABSTRACT: u16 = 0x0400;
pub const ACC_SYNTHETIC: u16 = 0x1000;
pub const ACC_ENUM: u16 = 0x4000;
pub const ACC_MODULE: u16 = 0x8000;

/// One constant-pool entry, as far as analysis needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Constant {
    /// Index 0 and the second slot of longs and doubles.
    Unusable,
    /// A Utf8 constant, decoded: the byte range of its text in [`ClassFile::text`].
    Utf8 {
        start: u32,
        end: u32,
    },
    Integer(i32),
    Float(f32),
    Long(i64),
    Double(f64),
    Class(u16),
    String(u16),
    /// Fieldref, Methodref and InterfaceMethodref: (class index, name-and-type index).
    MemberRef {
        tag: u8,
        class: u16,
        name_and_type: u16,
    },
    NameAndType {
        name: u16,
        descriptor: u16,
    },
    MethodHandle {
        kind: u8,
        reference: u16,
    },
    MethodType(u16),
    /// Dynamic and InvokeDynamic: (bootstrap method index, name-and-type index).
    Dynamic {
        tag: u8,
        bootstrap: u16,
        name_and_type: u16,
    },
    Module(u16),
    Package(u16),
}

/// The operand of a decoded instruction. Constant-pool operands stay indices; resolve them with
/// [`ClassFile`]'s accessors.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    None,
    /// bipush, sipush, newarray (the array type code).
    Int(i32),
    /// Local variable loads, stores and ret, with the short forms (`iload_1`) normalised.
    Var(u16),
    Iinc {
        var: u16,
        increment: i16,
    },
    /// Absolute bytecode offset of a jump target.
    Jump(u32),
    Switch(Box<SwitchTargets>),
    /// getstatic/putstatic/getfield/putfield and the invokes: a MemberRef index.
    Member(u16),
    /// new, anewarray, checkcast, instanceof: a Class index.
    Type(u16),
    /// ldc, ldc_w, ldc2_w: the constant index.
    Ldc(u16),
    /// invokedynamic: the InvokeDynamic index.
    InvokeDynamic(u16),
    MultiANewArray {
        class: u16,
        dimensions: u8,
    },
}

/// The targets of a tableswitch or lookupswitch, as absolute offsets.
#[derive(Debug, Clone, PartialEq)]
pub struct SwitchTargets {
    pub default: u32,
    /// Case keys (for a tableswitch: low..=high).
    pub keys: Vec<i32>,
    pub targets: Vec<u32>,
}

/// One decoded instruction, with ASM's normalisation of opcodes: the short local-variable forms
/// become their general opcode with a `Var` operand, `wide` disappears into its operand,
/// `ldc_w`/`ldc2_w` become `ldc`, and `goto_w`/`jsr_w` become `goto`/`jsr`.
#[derive(Debug, Clone, PartialEq)]
pub struct Insn {
    pub offset: u32,
    pub opcode: u8,
    pub operand: Operand,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionEntry {
    pub start: u32,
    pub end: u32,
    pub handler: u32,
    /// Constant-pool Class index, 0 for `finally` (catch any).
    pub catch_type: u16,
}

/// The Code attribute of a method.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Code {
    pub code_length: u32,
    pub insns: Vec<Insn>,
    pub exception_table: Vec<ExceptionEntry>,
    /// (start_pc, line) in the order of the LineNumberTable attributes.
    pub line_numbers: Vec<(u32, u16)>,
    /// Offsets at which ASM creates a label for debug information, stack map frames or
    /// local-variable type annotations (jump and exception targets are derived from the code).
    pub extra_label_offsets: Vec<u32>,
    /// Offsets of stack map frames (StackMapTable), in order.
    pub frame_offsets: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MethodInfo {
    /// Access flags, with ACC_SYNTHETIC added when a `Synthetic` attribute is present (as ASM does).
    pub access: u16,
    /// Shared: analysis keeps the names of every method it counts (no second copy).
    pub name: std::sync::Arc<str>,
    pub descriptor: std::sync::Arc<str>,
    /// Descriptors of the method's annotations, visible and invisible.
    pub annotations: Vec<String>,
    pub code: Option<Code>,
}

/// A field: its name and descriptor are Utf8 constants (see [`ClassFile::field_name`]), not
/// copied (a big jar has tens of thousands of fields, which analysis only scans for JaCoCo's
/// own).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldInfo {
    pub access: u16,
    pub name_index: u16,
    pub descriptor_index: u16,
}

/// A parsed class file.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassFile {
    pub minor_version: u16,
    pub major_version: u16,
    /// The raw access flags of the class header.
    pub access: u16,
    /// Internal name, e.g. `a/b/C`.
    pub this_class: String,
    pub super_class: Option<String>,
    pub interfaces: Vec<String>,
    pub source_file: Option<String>,
    /// Descriptors of the class annotations, visible and invisible.
    pub annotations: Vec<String>,
    /// Names of all class attributes, in file order.
    pub attribute_names: Vec<String>,
    pub has_record_attribute: bool,
    /// The SourceDebugExtension attribute (Kotlin writes its SMAP of inlined code there), decoded
    /// lossily as UTF-8.
    pub source_debug_extension: Option<String>,
    pub fields: Vec<FieldInfo>,
    pub methods: Vec<MethodInfo>,
    pub constant_pool: Vec<Constant>,
    /// The decoded text of every Utf8 constant, one after the other (one allocation per class
    /// instead of one per constant).
    pub text: String,
}

impl ClassFile {
    /// A field's name.
    pub fn field_name(&self, field: &FieldInfo) -> &str {
        self.utf8(field.name_index).unwrap_or_default()
    }

    /// A field's descriptor.
    pub fn field_descriptor(&self, field: &FieldInfo) -> &str {
        self.utf8(field.descriptor_index).unwrap_or_default()
    }

    pub fn utf8(&self, index: u16) -> Option<&str> {
        match self.constant_pool.get(index as usize)? {
            Constant::Utf8 { start, end } => self.text.get(*start as usize..*end as usize),
            _ => None,
        }
    }

    /// The internal name of a Class constant.
    pub fn class_name(&self, index: u16) -> Option<&str> {
        match self.constant_pool.get(index as usize)? {
            Constant::Class(n) => self.utf8(*n),
            _ => None,
        }
    }

    fn name_and_type(&self, index: u16) -> Option<(&str, &str)> {
        match self.constant_pool.get(index as usize)? {
            Constant::NameAndType { name, descriptor } => {
                Some((self.utf8(*name)?, self.utf8(*descriptor)?))
            }
            _ => None,
        }
    }

    /// (owner, name, descriptor) of a field or method reference.
    pub fn member(&self, index: u16) -> Option<(&str, &str, &str)> {
        match self.constant_pool.get(index as usize)? {
            Constant::MemberRef {
                class,
                name_and_type,
                ..
            } => {
                let (n, d) = self.name_and_type(*name_and_type)?;
                Some((self.class_name(*class)?, n, d))
            }
            _ => None,
        }
    }

    /// (name, descriptor) of an InvokeDynamic or Dynamic constant.
    pub fn dynamic(&self, index: u16) -> Option<(&str, &str)> {
        match self.constant_pool.get(index as usize)? {
            Constant::Dynamic { name_and_type, .. } => self.name_and_type(*name_and_type),
            _ => None,
        }
    }

    /// The string value of an ldc of a String constant.
    pub fn string_constant(&self, index: u16) -> Option<&str> {
        match self.constant_pool.get(index as usize)? {
            Constant::String(n) => self.utf8(*n),
            _ => None,
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], pos: usize) -> Self {
        Reader { bytes, pos }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ClassFileError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(ClassFileError::Truncated {
                offset: self.pos,
                what,
            }),
        }
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, ClassFileError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, ClassFileError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, ClassFileError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, ClassFileError> {
        Ok(self.u32(what)? as i32)
    }
}

/// Decodes the JVM's modified UTF-8 (NUL as `C0 80`, supplementary characters as surrogate
/// pairs) and appends it to `text` as UTF-8; malformed sequences become U+FFFD rather than
/// failing, as names are only compared.
fn append_modified_utf8(bytes: &[u8], text: &mut Vec<u8>) {
    if bytes.is_ascii() {
        // Fast path: almost every constant is plain ASCII, the same bytes in UTF-8 (checked
        // once for the whole pool, not per constant).
        text.extend_from_slice(bytes);
        return;
    }
    let mut units: Vec<u16> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b & 0x80 == 0 {
            units.push(b as u16);
            i += 1;
        } else if b & 0xE0 == 0xC0 && i + 1 < bytes.len() {
            units.push(((b as u16 & 0x1F) << 6) | (bytes[i + 1] as u16 & 0x3F));
            i += 2;
        } else if b & 0xF0 == 0xE0 && i + 2 < bytes.len() {
            units.push(
                ((b as u16 & 0x0F) << 12)
                    | ((bytes[i + 1] as u16 & 0x3F) << 6)
                    | (bytes[i + 2] as u16 & 0x3F),
            );
            i += 3;
        } else {
            units.push(0xFFFD);
            i += 1;
        }
    }
    text.extend_from_slice(String::from_utf16_lossy(&units).as_bytes());
}

/// Parses a class file of any version (the format up to the newest javac's), keeping what
/// coverage analysis needs.
pub fn parse_class(bytes: &[u8]) -> Result<ClassFile, ClassFileError> {
    let mut r = Reader::new(bytes, 0);
    let magic = r.u32("magic number")?;
    if magic != 0xCAFE_BABE {
        return Err(ClassFileError::BadMagic { found: magic });
    }
    let minor_version = r.u16("minor version")?;
    let major_version = r.u16("major version")?;
    let (constant_pool, text) = read_constant_pool(&mut r)?;
    let mut cf = ClassFile {
        minor_version,
        major_version,
        access: 0,
        this_class: String::new(),
        super_class: None,
        interfaces: Vec::new(),
        source_file: None,
        annotations: Vec::new(),
        attribute_names: Vec::new(),
        has_record_attribute: false,
        source_debug_extension: None,
        fields: Vec::new(),
        methods: Vec::new(),
        constant_pool,
        text,
    };
    cf.access = r.u16("class access flags")?;
    let this_pos = r.pos;
    let this_index = r.u16("this_class")?;
    cf.this_class = cf
        .class_name(this_index)
        .ok_or_else(|| malformed(this_pos, "this_class is not a Class constant"))?
        .to_owned();
    let super_index = r.u16("super_class")?;
    cf.super_class = cf.class_name(super_index).map(str::to_owned);
    let interface_count = r.u16("interfaces count")?;
    for _ in 0..interface_count {
        let i = r.u16("interface index")?;
        if let Some(n) = cf.class_name(i) {
            cf.interfaces.push(n.to_owned());
        }
    }
    let field_count = r.u16("fields count")?;
    for _ in 0..field_count {
        let access = r.u16("field access flags")?;
        let name_index = utf8_index(&cf, &mut r, "field name")?;
        let descriptor_index = utf8_index(&cf, &mut r, "field descriptor")?;
        skip_attributes(&mut r)?;
        cf.fields.push(FieldInfo {
            access,
            name_index,
            descriptor_index,
        });
    }
    let method_count = r.u16("methods count")?;
    for _ in 0..method_count {
        let m = read_method(&cf, &mut r, major_version)?;
        cf.methods.push(m);
    }
    let attr_count = r.u16("class attributes count")?;
    for _ in 0..attr_count {
        let name = utf8_at(&cf, &mut r, "class attribute name")?;
        let len = r.u32("class attribute length")? as usize;
        let body_pos = r.pos;
        let body = r.take(len, "class attribute body")?;
        match name.as_str() {
            "SourceFile" => {
                let mut a = Reader::new(bytes, body_pos);
                if body.len() >= 2 {
                    let i = a.u16("SourceFile index")?;
                    cf.source_file = cf.utf8(i).map(str::to_owned);
                }
            }
            "RuntimeVisibleAnnotations" | "RuntimeInvisibleAnnotations" => {
                let mut a = Reader::new(&bytes[..body_pos + len], body_pos);
                let found = read_annotation_types(&cf, &mut a)?;
                cf.annotations.extend(found);
            }
            "Record" => cf.has_record_attribute = true,
            "SourceDebugExtension" => {
                cf.source_debug_extension = Some(String::from_utf8_lossy(body).into_owned());
            }
            _ => {}
        }
        cf.attribute_names.push(name);
    }
    Ok(cf)
}

fn utf8_at(
    cf: &ClassFile,
    r: &mut Reader<'_>,
    what: &'static str,
) -> Result<String, ClassFileError> {
    utf8_ref(cf, r, what).map(str::to_owned)
}

/// Like [`utf8_at`], the index of the constant, checked to be a Utf8 one.
fn utf8_index(
    cf: &ClassFile,
    r: &mut Reader<'_>,
    what: &'static str,
) -> Result<u16, ClassFileError> {
    let pos = r.pos;
    let i = r.u16(what)?;
    match cf.utf8(i) {
        Some(_) => Ok(i),
        None => Err(malformed(
            pos,
            format!("{what}: index {i} is not a Utf8 constant"),
        )),
    }
}

/// Like [`utf8_at`], borrowed: for names only compared (attribute names), not kept.
fn utf8_ref<'c>(
    cf: &'c ClassFile,
    r: &mut Reader<'_>,
    what: &'static str,
) -> Result<&'c str, ClassFileError> {
    let pos = r.pos;
    let i = r.u16(what)?;
    cf.utf8(i)
        .ok_or_else(|| malformed(pos, format!("{what}: index {i} is not a Utf8 constant")))
}

fn read_constant_pool(r: &mut Reader<'_>) -> Result<(Vec<Constant>, String), ClassFileError> {
    let count = r.u16("constant pool count")? as usize;
    // The text of the Utf8 constants is at most the rest of the file (ASCII is copied as is;
    // other decodings grow the string as needed).
    let mut text: Vec<u8> = Vec::with_capacity(r.bytes.len().saturating_sub(r.pos));
    // Each entry takes at least 3 bytes: bound the allocation by what the file can hold.
    let mut pool = Vec::with_capacity(count.min(r.bytes.len().saturating_sub(r.pos) / 3 + 1));
    pool.push(Constant::Unusable);
    while pool.len() < count {
        let pos = r.pos;
        let tag = r.u8("constant pool tag")?;
        let c = match tag {
            1 => {
                let len = r.u16("Utf8 length")? as usize;
                let start = text.len() as u32;
                append_modified_utf8(r.take(len, "Utf8 bytes")?, &mut text);
                Constant::Utf8 {
                    start,
                    end: text.len() as u32,
                }
            }
            3 => Constant::Integer(r.i32("Integer")?),
            4 => Constant::Float(f32::from_bits(r.u32("Float")?)),
            5 | 6 => {
                let hi = r.u32("Long/Double")? as u64;
                let lo = r.u32("Long/Double")? as u64;
                let v = (hi << 32) | lo;
                pool.push(if tag == 5 {
                    Constant::Long(v as i64)
                } else {
                    Constant::Double(f64::from_bits(v))
                });
                Constant::Unusable
            }
            7 => Constant::Class(r.u16("Class name index")?),
            8 => Constant::String(r.u16("String index")?),
            9..=11 => Constant::MemberRef {
                tag,
                class: r.u16("member class index")?,
                name_and_type: r.u16("member name-and-type index")?,
            },
            12 => Constant::NameAndType {
                name: r.u16("NameAndType name")?,
                descriptor: r.u16("NameAndType descriptor")?,
            },
            15 => Constant::MethodHandle {
                kind: r.u8("MethodHandle kind")?,
                reference: r.u16("MethodHandle reference")?,
            },
            16 => Constant::MethodType(r.u16("MethodType descriptor")?),
            17 | 18 => Constant::Dynamic {
                tag,
                bootstrap: r.u16("bootstrap method index")?,
                name_and_type: r.u16("Dynamic name-and-type index")?,
            },
            19 => Constant::Module(r.u16("Module name")?),
            20 => Constant::Package(r.u16("Package name")?),
            _ => {
                return Err(malformed(
                    pos,
                    format!("unknown constant pool tag {tag} at entry {}", pool.len()),
                ));
            }
        };
        pool.push(c);
    }
    pool.truncate(count.max(1));
    // ASCII and decoded text only, so always UTF-8: one check for the whole pool.
    let text = String::from_utf8(text)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Ok((pool, text))
}

fn skip_attributes(r: &mut Reader<'_>) -> Result<(), ClassFileError> {
    let n = r.u16("attributes count")?;
    for _ in 0..n {
        r.u16("attribute name")?;
        let len = r.u32("attribute length")? as usize;
        r.take(len, "attribute body")?;
    }
    Ok(())
}

/// Reads `num_annotations` annotations and returns their type descriptors.
fn read_annotation_types(
    cf: &ClassFile,
    r: &mut Reader<'_>,
) -> Result<Vec<String>, ClassFileError> {
    let mut out = Vec::new();
    let n = r.u16("annotations count")?;
    for _ in 0..n {
        let pos = r.pos;
        let t = r.u16("annotation type")?;
        let desc = cf
            .utf8(t)
            .ok_or_else(|| malformed(pos, "annotation type is not a Utf8 constant"))?;
        out.push(desc.to_owned());
        skip_annotation_pairs(r, 0)?;
    }
    Ok(out)
}

fn skip_annotation_pairs(r: &mut Reader<'_>, depth: u32) -> Result<(), ClassFileError> {
    let pairs = r.u16("annotation element count")?;
    for _ in 0..pairs {
        r.u16("annotation element name")?;
        skip_element_value(r, depth)?;
    }
    Ok(())
}

fn skip_element_value(r: &mut Reader<'_>, depth: u32) -> Result<(), ClassFileError> {
    if depth > 64 {
        return Err(malformed(r.pos, "annotation values nested too deeply"));
    }
    let pos = r.pos;
    let tag = r.u8("element value tag")?;
    match tag {
        b'B' | b'C' | b'D' | b'F' | b'I' | b'J' | b'S' | b'Z' | b's' | b'c' => {
            r.u16("element value")?;
        }
        b'e' => {
            r.u16("enum type")?;
            r.u16("enum constant")?;
        }
        b'@' => {
            r.u16("nested annotation type")?;
            skip_annotation_pairs(r, depth + 1)?;
        }
        b'[' => {
            let n = r.u16("array value count")?;
            for _ in 0..n {
                skip_element_value(r, depth + 1)?;
            }
        }
        _ => return Err(malformed(pos, format!("unknown element value tag {tag}"))),
    }
    Ok(())
}

fn read_method(
    cf: &ClassFile,
    r: &mut Reader<'_>,
    major_version: u16,
) -> Result<MethodInfo, ClassFileError> {
    let mut access = r.u16("method access flags")?;
    let name: std::sync::Arc<str> = utf8_ref(cf, r, "method name")?.into();
    let descriptor: std::sync::Arc<str> = utf8_ref(cf, r, "method descriptor")?.into();
    let mut annotations = Vec::new();
    let mut code = None;
    let n = r.u16("method attributes count")?;
    for _ in 0..n {
        let attr_name = utf8_ref(cf, r, "method attribute name")?;
        let len = r.u32("method attribute length")? as usize;
        let body_pos = r.pos;
        r.take(len, "method attribute body")?;
        let mut a = Reader::new(&r.bytes[..body_pos + len], body_pos);
        match attr_name {
            "Code" => code = Some(read_code(cf, &mut a, major_version)?),
            "Synthetic" => access |= ACC_SYNTHETIC,
            "RuntimeVisibleAnnotations" | "RuntimeInvisibleAnnotations" => {
                annotations.extend(read_annotation_types(cf, &mut a)?);
            }
            _ => {}
        }
    }
    Ok(MethodInfo {
        access,
        name,
        descriptor,
        annotations,
        code,
    })
}

fn read_code(
    cf: &ClassFile,
    r: &mut Reader<'_>,
    _major_version: u16,
) -> Result<Code, ClassFileError> {
    r.u16("max_stack")?;
    r.u16("max_locals")?;
    let length_at = r.pos;
    let code_length = r.u32("code_length")?;
    // The JVM's own limit (JVMS 4.7.3): a longer method is no class a JVM loads, and each
    // instruction costs the analysis far more than its byte.
    if code_length >= 1 << 16 {
        return Err(malformed(
            length_at,
            format!("code_length {code_length}: a method's bytecode is under 65,536 bytes"),
        ));
    }
    let code_start = r.pos;
    let code = r.take(code_length as usize, "bytecode")?;
    let insns = decode_bytecode(code, code_start)?;
    let mut exception_table = Vec::new();
    let n = r.u16("exception table length")?;
    for _ in 0..n {
        let pos = r.pos;
        let e = ExceptionEntry {
            start: r.u16("exception start_pc")? as u32,
            end: r.u16("exception end_pc")? as u32,
            handler: r.u16("exception handler_pc")? as u32,
            catch_type: r.u16("exception catch_type")?,
        };
        if e.start > code_length || e.end > code_length || e.handler > code_length {
            return Err(malformed(pos, "exception table offset beyond the code"));
        }
        exception_table.push(e);
    }
    let mut line_numbers = Vec::new();
    let mut extra_label_offsets = Vec::new();
    let mut frame_offsets = Vec::new();
    let n = r.u16("Code attributes count")?;
    for _ in 0..n {
        let name = utf8_ref(cf, r, "Code attribute name")?;
        let len = r.u32("Code attribute length")? as usize;
        let body_pos = r.pos;
        r.take(len, "Code attribute body")?;
        let mut a = Reader::new(&r.bytes[..body_pos + len], body_pos);
        let check = |pos: usize, off: u32| {
            if off > code_length {
                Err(malformed(
                    pos,
                    format!("{name} offset {off} beyond code length {code_length}"),
                ))
            } else {
                Ok(off)
            }
        };
        match name {
            "LineNumberTable" => {
                let count = a.u16("LineNumberTable length")?;
                // 4 bytes per entry: never more than the attribute holds.
                line_numbers.reserve((count as usize).min(len / 4));
                for _ in 0..count {
                    let pos = a.pos;
                    let pc = check(pos, a.u16("line start_pc")? as u32)?;
                    let line = a.u16("line number")?;
                    line_numbers.push((pc, line));
                }
            }
            "LocalVariableTable" | "LocalVariableTypeTable" => {
                let count = a.u16("local variable table length")?;
                // 10 bytes per entry, two offsets each.
                extra_label_offsets.reserve((count as usize).min(len / 10) * 2);
                for _ in 0..count {
                    let pos = a.pos;
                    let start = a.u16("local variable start_pc")? as u32;
                    let length = a.u16("local variable length")? as u32;
                    a.take(6, "local variable entry")?;
                    extra_label_offsets.push(check(pos, start)?);
                    extra_label_offsets.push(check(pos, start + length)?);
                }
            }
            "StackMapTable" => {
                read_frame_offsets(&mut a, code, &mut frame_offsets)?;
                for &f in &frame_offsets {
                    check(body_pos, f)?;
                }
                extra_label_offsets.extend(uninitialized_new_offsets(
                    &r.bytes[body_pos..body_pos + len],
                    code,
                ));
            }
            "RuntimeVisibleTypeAnnotations" | "RuntimeInvisibleTypeAnnotations" => {
                read_local_variable_annotation_offsets(&mut a, &mut extra_label_offsets)?;
                for &o in &extra_label_offsets {
                    check(body_pos, o)?;
                }
            }
            _ => {}
        }
    }
    Ok(Code {
        code_length,
        insns,
        exception_table,
        line_numbers,
        extra_label_offsets,
        frame_offsets,
    })
}

/// ASM scans the raw StackMapTable for `ITEM_Uninitialized` entries that point at a `new`
/// instruction and labels those offsets; reproduced because labels influence the analysis.
fn uninitialized_new_offsets(table: &[u8], code: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    // The scan starts after the 2-byte entry count, as ASM's does.
    let mut i = 2;
    while i + 2 < table.len() {
        if table[i] == 8 {
            let off = u16::from_be_bytes([table[i + 1], table[i + 2]]) as usize;
            if off < code.len() && code[off] == 0xBB {
                out.push(off as u32);
            }
        }
        i += 1;
    }
    out
}

fn skip_verification_type(r: &mut Reader<'_>) -> Result<(), ClassFileError> {
    let pos = r.pos;
    let t = r.u8("verification type")?;
    match t {
        0..=6 => {}
        7 | 8 => {
            r.u16("verification type operand")?;
        }
        _ => return Err(malformed(pos, format!("unknown verification type {t}"))),
    }
    Ok(())
}

fn read_frame_offsets(
    r: &mut Reader<'_>,
    _code: &[u8],
    out: &mut Vec<u32>,
) -> Result<(), ClassFileError> {
    let n = r.u16("StackMapTable entries")?;
    let mut offset: i64 = -1;
    for _ in 0..n {
        let pos = r.pos;
        let t = r.u8("frame type")?;
        let delta: u32 = match t {
            0..=63 => t as u32,
            64..=127 => {
                skip_verification_type(r)?;
                (t - 64) as u32
            }
            247 => {
                let d = r.u16("frame offset delta")?;
                skip_verification_type(r)?;
                d as u32
            }
            248..=251 => r.u16("frame offset delta")? as u32,
            252..=254 => {
                let d = r.u16("frame offset delta")?;
                for _ in 0..(t - 251) {
                    skip_verification_type(r)?;
                }
                d as u32
            }
            255 => {
                let d = r.u16("frame offset delta")?;
                let locals = r.u16("full frame locals")?;
                for _ in 0..locals {
                    skip_verification_type(r)?;
                }
                let stack = r.u16("full frame stack")?;
                for _ in 0..stack {
                    skip_verification_type(r)?;
                }
                d as u32
            }
            _ => return Err(malformed(pos, format!("reserved stack map frame type {t}"))),
        };
        offset += delta as i64 + 1;
        out.push(offset as u32);
    }
    Ok(())
}

fn read_local_variable_annotation_offsets(
    r: &mut Reader<'_>,
    out: &mut Vec<u32>,
) -> Result<(), ClassFileError> {
    let n = r.u16("type annotations count")?;
    for _ in 0..n {
        let pos = r.pos;
        let target = r.u8("type annotation target")?;
        match target {
            0x40 | 0x41 => {
                let len = r.u16("localvar target length")?;
                for _ in 0..len {
                    let start = r.u16("localvar start_pc")? as u32;
                    let length = r.u16("localvar length")? as u32;
                    r.u16("localvar index")?;
                    out.push(start);
                    out.push(start + length);
                }
            }
            0x42..=0x46 => {
                r.u16("type annotation target info")?;
            }
            0x47..=0x4B => {
                r.take(3, "type argument target")?;
            }
            _ => {
                return Err(malformed(
                    pos,
                    format!("type annotation target {target:#x} not allowed in Code"),
                ));
            }
        }
        let path_len = r.u8("type path length")? as usize;
        r.take(path_len * 2, "type path")?;
        r.u16("type annotation type")?;
        skip_annotation_pairs(r, 0)?;
    }
    Ok(())
}

/// Decodes a method's bytecode. `base` is the file offset of the code, for error messages.
pub fn decode_bytecode(code: &[u8], base: usize) -> Result<Vec<Insn>, ClassFileError> {
    let len = code.len();
    let mut insns = Vec::with_capacity(len / 2 + 1);
    let mut r = Reader::new(code, 0);
    let err = |pc: usize, what: String| malformed(base + pc, what);
    let target = |pc: usize, delta: i64| -> Result<u32, ClassFileError> {
        let t = pc as i64 + delta;
        if t < 0 || t > len as i64 {
            Err(err(
                pc,
                format!("jump target {t} outside the method's code (length {len})"),
            ))
        } else {
            Ok(t as u32)
        }
    };
    while r.pos < len {
        let pc = r.pos;
        let op = r.u8("opcode")?;
        let (opcode, operand) = match op {
            0x00..=0x0F
            | 0x2E..=0x35
            | 0x4F..=0x83
            | 0x85..=0x98
            | 0xAC..=0xB1
            | 0xBE
            | 0xBF
            | 0xC2
            | 0xC3 => (op, Operand::None),
            0x10 => (op, Operand::Int(r.u8("bipush operand")? as i8 as i32)),
            0x11 => (op, Operand::Int(r.u16("sipush operand")? as i16 as i32)),
            0x12 => (0x12, Operand::Ldc(r.u8("ldc index")? as u16)),
            0x13 | 0x14 => (0x12, Operand::Ldc(r.u16("ldc_w index")?)),
            0x15..=0x19 | 0x36..=0x3A | 0xA9 => {
                (op, Operand::Var(r.u8("local variable index")? as u16))
            }
            // iload_0 .. aload_3
            0x1A..=0x2D => {
                let k = op - 0x1A;
                (0x15 + k / 4, Operand::Var((k % 4) as u16))
            }
            // istore_0 .. astore_3
            0x3B..=0x4E => {
                let k = op - 0x3B;
                (0x36 + k / 4, Operand::Var((k % 4) as u16))
            }
            0x84 => (
                op,
                Operand::Iinc {
                    var: r.u8("iinc index")? as u16,
                    increment: r.u8("iinc constant")? as i8 as i16,
                },
            ),
            0x99..=0xA8 | 0xC6 | 0xC7 => {
                let d = r.u16("branch offset")? as i16 as i64;
                (op, Operand::Jump(target(pc, d)?))
            }
            0xC8 | 0xC9 => {
                let d = r.i32("wide branch offset")? as i64;
                (op - 0xC8 + 0xA7, Operand::Jump(target(pc, d)?))
            }
            0xAA | 0xAB => {
                let pad = (4 - (pc + 1) % 4) % 4;
                r.take(pad, "switch padding")?;
                let default = target(pc, r.i32("switch default")? as i64)?;
                let (mut keys, mut targets) = (Vec::new(), Vec::new());
                if op == 0xAA {
                    let low = r.i32("tableswitch low")?;
                    let high = r.i32("tableswitch high")?;
                    if high < low {
                        return Err(err(pc, format!("tableswitch high {high} < low {low}")));
                    }
                    let n = (high as i64 - low as i64 + 1) as usize;
                    if n > (len - r.pos) / 4 {
                        return Err(err(pc, "tableswitch larger than the code".into()));
                    }
                    for k in 0..n {
                        keys.push((low as i64 + k as i64) as i32);
                        targets.push(target(pc, r.i32("tableswitch offset")? as i64)?);
                    }
                } else {
                    let n = r.i32("lookupswitch npairs")?;
                    if n < 0 || n as usize > (len - r.pos) / 8 {
                        return Err(err(pc, format!("lookupswitch npairs {n} invalid")));
                    }
                    for _ in 0..n {
                        keys.push(r.i32("lookupswitch key")?);
                        targets.push(target(pc, r.i32("lookupswitch offset")? as i64)?);
                    }
                }
                (
                    op,
                    Operand::Switch(Box::new(SwitchTargets {
                        default,
                        keys,
                        targets,
                    })),
                )
            }
            0xB2..=0xB8 => (op, Operand::Member(r.u16("member index")?)),
            0xB9 => {
                let i = r.u16("invokeinterface index")?;
                r.take(2, "invokeinterface count")?;
                (op, Operand::Member(i))
            }
            0xBA => {
                let i = r.u16("invokedynamic index")?;
                r.take(2, "invokedynamic zero bytes")?;
                (op, Operand::InvokeDynamic(i))
            }
            0xBB | 0xBD | 0xC0 | 0xC1 => (op, Operand::Type(r.u16("class index")?)),
            0xBC => (op, Operand::Int(r.u8("newarray type")? as i32)),
            0xC5 => (
                op,
                Operand::MultiANewArray {
                    class: r.u16("multianewarray class")?,
                    dimensions: r.u8("multianewarray dimensions")?,
                },
            ),
            0xC4 => {
                let wop = r.u8("wide opcode")?;
                match wop {
                    0x15..=0x19 | 0x36..=0x3A | 0xA9 => {
                        (wop, Operand::Var(r.u16("wide local index")?))
                    }
                    0x84 => (
                        wop,
                        Operand::Iinc {
                            var: r.u16("wide iinc index")?,
                            increment: r.u16("wide iinc constant")? as i16,
                        },
                    ),
                    _ => return Err(err(pc, format!("invalid opcode {wop:#04x} after wide"))),
                }
            }
            _ => return Err(err(pc, format!("invalid opcode {op:#04x}"))),
        };
        insns.push(Insn {
            offset: pc as u32,
            opcode,
            operand,
        });
    }
    Ok(insns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_opcode_has_the_documented_length() {
        // (opcode, operand bytes) for the fixed-length opcodes.
        let mut lengths: Vec<(u8, usize)> = Vec::new();
        for op in 0u8..=0xC9 {
            let n = match op {
                0x10 | 0x12 | 0x15..=0x19 | 0x36..=0x3A | 0xA9 | 0xBC => 1,
                0x11
                | 0x13
                | 0x14
                | 0x84
                | 0x99..=0xA8
                | 0xB2..=0xB8
                | 0xBB
                | 0xBD
                | 0xC0
                | 0xC1
                | 0xC6
                | 0xC7 => 2,
                0xC5 => 3,
                0xB9 | 0xBA | 0xC8 | 0xC9 => 4,
                0xAA | 0xAB | 0xC4 => continue,
                _ => 0,
            };
            lengths.push((op, n));
        }
        for (op, n) in lengths {
            // The opcode, zero operands (jump offset 0 targets itself), then a return.
            let mut code = vec![op];
            code.extend(std::iter::repeat_n(0u8, n));
            code.push(0xB1);
            let insns = decode_bytecode(&code, 0).unwrap();
            assert_eq!(insns.len(), 2, "opcode {op:#x}");
            assert_eq!(insns[1].offset as usize, 1 + n, "opcode {op:#x}");
            // One byte short must fail cleanly, never panic.
            if n > 0 {
                assert!(decode_bytecode(&code[..n], 0).is_err(), "opcode {op:#x}");
            }
        }
        assert!(decode_bytecode(&[0xCA], 0).is_err());
        assert!(decode_bytecode(&[0xFF], 0).is_err());
    }

    #[test]
    fn short_forms_and_wide_are_normalised() {
        let code = [
            0x1B, // iload_1
            0x4E, // astore_3
            0xC4, 0x15, 0x01, 0x00, // wide iload 256
            0xC4, 0x84, 0x00, 0x05, 0xFF, 0xFE, // wide iinc 5, -2
            0x13, 0x00, 0x07, // ldc_w #7
            0xB1,
        ];
        let insns = decode_bytecode(&code, 0).unwrap();
        assert_eq!(
            (insns[0].opcode, &insns[0].operand),
            (0x15, &Operand::Var(1))
        );
        assert_eq!(
            (insns[1].opcode, &insns[1].operand),
            (0x3A, &Operand::Var(3))
        );
        assert_eq!(
            (insns[2].opcode, &insns[2].operand),
            (0x15, &Operand::Var(256))
        );
        assert_eq!(
            insns[3].operand,
            Operand::Iinc {
                var: 5,
                increment: -2
            }
        );
        assert_eq!(
            (insns[4].opcode, &insns[4].operand),
            (0x12, &Operand::Ldc(7))
        );
        assert_eq!(insns[5].offset, 15);
        assert!(decode_bytecode(&[0xC4, 0x60], 0).is_err());
    }

    #[test]
    fn switches_honour_padding() {
        // nop; tableswitch at pc 1: 2 bytes of padding; default +24, low 0, high 1.
        let mut code = vec![0x00, 0xAA, 0, 0];
        code.extend(24i32.to_be_bytes());
        code.extend(0i32.to_be_bytes());
        code.extend(1i32.to_be_bytes());
        code.extend(23i32.to_be_bytes());
        code.extend(24i32.to_be_bytes());
        code.extend([0xB1, 0xB1]); // pc 24, 25
        let insns = decode_bytecode(&code, 0).unwrap();
        let Operand::Switch(s) = &insns[1].operand else {
            panic!("not a switch")
        };
        assert_eq!(s.default, 25);
        assert_eq!(s.keys, vec![0, 1]);
        assert_eq!(s.targets, vec![24, 25]);
        assert_eq!(insns[2].offset, 24);
        // lookupswitch at pc 0: 3 bytes of padding.
        let mut code = vec![0xAB, 0, 0, 0];
        code.extend(16i32.to_be_bytes());
        code.extend(1i32.to_be_bytes());
        code.extend((-5i32).to_be_bytes());
        code.extend(17i32.to_be_bytes());
        code.extend([0xB1, 0xB1]);
        let insns = decode_bytecode(&code, 0).unwrap();
        let Operand::Switch(s) = &insns[0].operand else {
            panic!("not a switch")
        };
        assert_eq!(
            (s.default, s.keys.clone(), s.targets.clone()),
            (16, vec![-5], vec![17])
        );
        // A huge npairs must not allocate or panic.
        let mut code = vec![0xAB, 0, 0, 0];
        code.extend(0i32.to_be_bytes());
        code.extend(i32::MAX.to_be_bytes());
        assert!(decode_bytecode(&code, 0).is_err());
        // A jump outside the code is an error.
        assert!(decode_bytecode(&[0xA7, 0x7F, 0x00], 0).is_err());
    }

    /// `tests/java-corpus/fixtures/Tiny.java` compiled with `javac --release 8 -g`.
    const TINY: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/java-corpus/fixtures/Tiny.class"
    ));

    #[test]
    fn parses_a_javac_class() {
        let cf = parse_class(TINY).unwrap();
        assert_eq!(cf.this_class, "Tiny");
        assert_eq!(cf.super_class.as_deref(), Some("java/lang/Object"));
        assert_eq!(cf.source_file.as_deref(), Some("Tiny.java"));
        assert_eq!(cf.major_version, 52);
        let names: Vec<&str> = cf.methods.iter().map(|m| &*m.name).collect();
        assert_eq!(names, ["<init>", "f", "lambda$f$0"]);
        let lambda = &cf.methods[2];
        assert_ne!(lambda.access & ACC_SYNTHETIC, 0);
        let code = cf.methods[1].code.as_ref().unwrap();
        let ops: Vec<u8> = code.insns.iter().map(|i| i.opcode).collect();
        assert!(
            ops.contains(&0xAA) && ops.contains(&0xAB),
            "both switch kinds"
        );
        assert!(!code.exception_table.is_empty());
        assert!(code.line_numbers.len() > 10);
        assert!(!code.frame_offsets.is_empty());
        // Every member reference resolves.
        for i in &code.insns {
            if let Operand::Member(idx) = i.operand {
                assert!(cf.member(idx).is_some());
            }
        }
        let bootstrap = code.insns.iter().find_map(|i| match i.operand {
            Operand::InvokeDynamic(idx) => cf.dynamic(idx),
            _ => None,
        });
        assert_eq!(bootstrap.map(|(n, _)| n), Some("getAsInt"));
    }

    #[test]
    fn garbage_and_truncation_never_panic() {
        assert!(matches!(
            parse_class(b"nope"),
            Err(ClassFileError::BadMagic { .. }) | Err(ClassFileError::Truncated { .. })
        ));
        let bytes = TINY.to_vec();
        let mut failures = 0;
        for cut in 0..bytes.len() {
            if parse_class(&bytes[..cut]).is_err() {
                failures += 1;
            }
        }
        assert_eq!(failures, bytes.len(), "every truncation is an error");
        // Flip every byte in turn: errors are fine, panics are not.
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            b[i] ^= (seed as u8) | 1;
            let _ = parse_class(&b);
        }
    }
}
