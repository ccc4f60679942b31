//! Class files for JaCoCo matching: from directories, jars, Spring Boot fat jars and WARs.
//!
//! Execution data names classes by the CRC64 of their bytes, so the analysis needs the very
//! class files that were deployed. They usually come packaged: a plain jar, a Spring Boot fat jar
//! (`BOOT-INF/classes/**` plus the libraries in `BOOT-INF/lib/*.jar`), or a WAR (`WEB-INF/classes`,
//! `WEB-INF/lib/*.jar`). Nested libraries are filtered by jar file name (`myco-*.jar`) because a
//! service carries hundreds of third-party jars nobody wants coverage for.
//!
//! Multi-release jars (`Multi-Release: true` in the manifest) also carry class versions under
//! `META-INF/versions/N/`: a JVM of release N or later loads the highest such version instead of
//! the base entry, so the agent's data names that entry's bytes. Every version is loaded, each
//! with its own id and its [`ClassEntry::release`]; which one a class's coverage is read from is
//! decided later, against the data (see `engine::java`). Overlays in a jar without the manifest
//! attribute are skipped, as the JVM ignores them. Directories are not multi-release for the JVM,
//! but an unpacked jar keeps the layout, so `META-INF/versions/N/` files found in a directory are
//! loaded and marked the same way. The `BOOT-INF/classes/` and `WEB-INF/classes/` trees are never
//! read as multi-release.
//!
//! Nothing here is fatal for the rest: an unreadable path, a corrupt jar or a class entry larger
//! than the limit becomes an [`ArchiveProblem`] and loading goes on. Every entry's size is checked
//! against a limit before and while it is decompressed, so a zip bomb costs at most the limit.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::java::crc64;

/// One class file, with where it came from and its JaCoCo class id.
#[derive(Debug, Clone)]
pub struct ClassEntry<T = ()> {
    /// Where the bytes came from: a file path, or `app.jar!/BOOT-INF/lib/x.jar!/a/B.class`.
    pub origin: String,
    /// The class file as inflated (kept as it came out: an `Arc<[u8]>` copied every class once).
    /// Empty when the visitor of [`load_classes_visiting`] had it instead.
    pub bytes: Vec<u8>,
    /// What the visitor of [`load_classes_visiting`] made of the bytes, for the entries it saw
    /// (`bytes` is then empty); `None` for the others (class files read from folders).
    pub visited: Option<T>,
    /// [`crc64::class_id`] of `bytes`.
    pub id: u64,
    /// `Some(N)` for a multi-release version (`META-INF/versions/N/...`, N >= 9), which a JVM of
    /// release N or later loads instead of the base entry; `None` for a base entry.
    pub release: Option<u32>,
}

/// Something that could not be loaded. Reported, never fatal for the other inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveProblem {
    #[error(
        "{path}: cannot read: {detail} (check the path in the target's `classes` in covtop.toml)"
    )]
    Unreadable { path: String, detail: String },
    #[error(
        "{origin}: not a valid zip/jar: {detail} (is the file complete? rebuild or re-copy it)"
    )]
    CorruptArchive { origin: String, detail: String },
    #[error("{origin}: cannot decompress entry: {detail} (the archive is corrupt; rebuild it)")]
    CorruptEntry { origin: String, detail: String },
    #[error(
        "{origin}: entry is {size} bytes, more than the limit of {limit} bytes: skipped (a zip bomb or a corrupt size field)"
    )]
    EntryTooLarge {
        origin: String,
        size: u64,
        limit: u64,
    },
    #[error("{origin}: not a class file (no CAFEBABE magic): skipped")]
    NotAClassFile { origin: String },
    #[error("{path}: neither a directory, a .class file nor a .jar/.war/.zip archive: skipped")]
    UnsupportedPath { path: String },
    #[error(
        "{origin}: entries {first} and {second} share their compressed data (overlapping entries: a zip bomb, never written by a jar tool): the archive is not read (rebuild it)"
    )]
    OverlappingEntries {
        origin: String,
        first: String,
        second: String,
    },
    #[error(
        "{origin}: its entries inflate to more than {limit} bytes in total ({ratio}x the archive's size, at least {floor} bytes): {skipped} entries from {first} on skipped (a zip bomb: no jar of real classes compresses that well; rebuild it)"
    )]
    InflatesTooMuch {
        origin: String,
        limit: u64,
        ratio: u64,
        floor: u64,
        skipped: usize,
        first: String,
    },
    #[error(
        "{origin}: {count} more entries hold the same bytes as {name} (one entry copied under other names): read once"
    )]
    DuplicateEntries {
        origin: String,
        name: String,
        count: usize,
    },
}

/// Size limits that keep hostile archives cheap.
#[derive(Debug, Clone, Copy)]
pub struct ArchiveLimits {
    /// The largest class file accepted (real ones are well under a megabyte).
    pub max_class_bytes: u64,
    /// The largest nested jar read into memory.
    pub max_nested_jar_bytes: u64,
    /// The largest archive file read (a path in a JaCoCo target's `classes`).
    pub max_archive_bytes: u64,
    /// What the entries of one archive file (its nested jars and their classes included) may
    /// inflate to in total: this many times the file's size...
    pub max_inflation_ratio: u64,
    /// ...plus this much, so that small jars of very regular classes still load.
    pub inflation_floor: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_class_bytes: 32 << 20,
            max_nested_jar_bytes: 512 << 20,
            max_archive_bytes: 1 << 30,
            max_inflation_ratio: 32,
            inflation_floor: 64 << 20,
        }
    }
}

/// Loads every class file under `paths` with the default [`ArchiveLimits`]. `includes` are
/// glob-like patterns (`*`, `?`) on the file names of nested library jars (`BOOT-INF/lib/*.jar`,
/// `WEB-INF/lib/*.jar`); empty means every nested jar.
pub fn load_classes(
    paths: &[PathBuf],
    includes: &[String],
) -> (Vec<ClassEntry>, Vec<ArchiveProblem>) {
    load_classes_with_limits(paths, includes, &ArchiveLimits::default())
}

/// [`load_classes`] with explicit limits.
pub fn load_classes_with_limits(
    paths: &[PathBuf],
    includes: &[String],
    limits: &ArchiveLimits,
) -> (Vec<ClassEntry>, Vec<ArchiveProblem>) {
    load(paths, includes, limits, None)
}

/// What [`load_classes_visiting`] runs on each class entry of an archive: its inflated bytes
/// and class id.
pub type Visitor<'v, T> = &'v (dyn Fn(&[u8], u64) -> T + Sync);

/// [`load_classes`], where every class entry of an archive is handed to `visit` on the worker
/// that inflated it, right after inflating it (while its bytes are in that core's cache), and
/// is not kept: each worker inflates into one buffer it reuses, so a big jar's classes are
/// never all in memory at once. Class files read from folders are kept as [`load_classes`]
/// keeps them (`visited` is `None`), for the caller to handle.
pub fn load_classes_visiting<T: Send>(
    paths: &[PathBuf],
    includes: &[String],
    visit: Visitor<'_, T>,
) -> (Vec<ClassEntry<T>>, Vec<ArchiveProblem>) {
    load(paths, includes, &ArchiveLimits::default(), Some(visit))
}

fn load<T: Send>(
    paths: &[PathBuf],
    includes: &[String],
    limits: &ArchiveLimits,
    visit: Option<Visitor<'_, T>>,
) -> (Vec<ClassEntry<T>>, Vec<ArchiveProblem>) {
    let mut loader = Loader {
        includes,
        limits,
        visit,
        classes: Vec::new(),
        problems: Vec::new(),
        inflate_left: 0,
        inflate_budget: 0,
    };
    for path in paths {
        loader.load_path(path);
    }
    (loader.classes, loader.problems)
}

/// True if `name` (a jar's file name) matches one of `includes`, or `includes` is empty.
pub fn jar_included(name: &str, includes: &[String]) -> bool {
    includes.is_empty()
        || includes
            .iter()
            .any(|p| glob_match(p.as_bytes(), name.as_bytes()))
}

/// `*` matches any run of characters, `?` one character; everything else literally.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

fn is_archive_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".jar") || lower.ends_with(".war") || lower.ends_with(".zip")
}

fn is_module_info(name: &str) -> bool {
    name == "module-info.class" || name.ends_with("/module-info.class")
}

/// The largest manifest read to look for `Multi-Release: true`.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// Splits a multi-release overlay path `META-INF/versions/N/rest` into `(N, rest)`. The JVM only
/// looks at versions 9 and later, written as plain decimal numbers; anything else is `None`.
pub fn versioned_entry(path: &str) -> Option<(u32, &str)> {
    let rest = path.strip_prefix("META-INF/versions/")?;
    let (number, rest) = rest.split_once('/')?;
    if number.is_empty() || number.len() > 9 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let release: u32 = number.parse().ok()?;
    (release >= 9 && !rest.is_empty()).then_some((release, rest))
}

/// True if a manifest's main section turns multi-release on (`Multi-Release: true`; the JDK
/// compares name and value without regard to case).
fn manifest_is_multi_release(manifest: &[u8]) -> bool {
    manifest
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .take_while(|line| !line.is_empty())
        .filter_map(|line| std::str::from_utf8(line).ok())
        .filter_map(|line| line.split_once(':'))
        .any(|(name, value)| {
            name.eq_ignore_ascii_case("Multi-Release") && value.trim().eq_ignore_ascii_case("true")
        })
}

/// How the classes inside an archive are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// A plain jar: every class at the root, except multi-release overlays.
    Plain,
    /// Spring Boot: application classes under `BOOT-INF/classes/`, libraries in `BOOT-INF/lib/`.
    SpringBoot,
    /// A web application: `WEB-INF/classes/` and `WEB-INF/lib/`.
    War,
}

impl Layout {
    fn prefixes(self) -> Option<(&'static str, &'static str)> {
        match self {
            Layout::Plain => None,
            Layout::SpringBoot => Some(("BOOT-INF/classes/", "BOOT-INF/lib/")),
            Layout::War => Some(("WEB-INF/classes/", "WEB-INF/lib/")),
        }
    }
}

struct Loader<'a, T> {
    includes: &'a [String],
    limits: &'a ArchiveLimits,
    /// Run on each archive class entry as it is inflated ([`load_classes_visiting`]).
    visit: Option<Visitor<'a, T>>,
    classes: Vec<ClassEntry<T>>,
    problems: Vec<ArchiveProblem>,
    /// What the entries of the archive file being read may still inflate to
    /// ([`ArchiveLimits::max_inflation_ratio`]).
    inflate_left: u64,
    /// What [`Loader::inflate_left`] started from for that file.
    inflate_budget: u64,
}

impl<T: Send> Loader<'_, T> {
    fn load_path(&mut self, path: &Path) {
        let shown = path.display().to_string();
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                self.problems.push(ArchiveProblem::Unreadable {
                    path: shown,
                    detail: e.to_string(),
                });
                return;
            }
        };
        if !meta.is_dir() && !meta.is_file() {
            // A FIFO would block the read for ever; a device (a link to /dev/zero) never ends.
            self.problems.push(ArchiveProblem::Unreadable {
                path: shown,
                detail: "not a regular file or folder (a FIFO, device or socket): give the jar or \
                         the classes folder of the deployed build"
                    .into(),
            });
            return;
        }
        if meta.is_dir() {
            self.load_dir(path);
        } else if shown.ends_with(".class") {
            self.load_class_file(path);
        } else if is_archive_name(&shown) {
            // One read of the whole file: the zip directory and every entry are then slices.
            // Its size is checked first, and the read stops at the limit whatever the file
            // grows to meanwhile.
            let limit = self.limits.max_archive_bytes;
            if meta.len() > limit {
                self.too_large(shown, meta.len(), limit);
                return;
            }
            let read = fs::File::open(path).and_then(|f| {
                let mut bytes = Vec::with_capacity(meta.len() as usize);
                f.take(limit + 1).read_to_end(&mut bytes)?;
                Ok(bytes)
            });
            match read {
                Ok(bytes) if bytes.len() as u64 > limit => {
                    self.too_large(shown, bytes.len() as u64, limit)
                }
                Ok(bytes) => {
                    self.inflate_budget = self.limits.inflation_floor.saturating_add(
                        (bytes.len() as u64).saturating_mul(self.limits.max_inflation_ratio),
                    );
                    self.inflate_left = self.inflate_budget;
                    self.load_archive(&bytes, &shown, true)
                }
                Err(e) => self.problems.push(ArchiveProblem::Unreadable {
                    path: shown,
                    detail: e.to_string(),
                }),
            }
        } else {
            self.problems
                .push(ArchiveProblem::UnsupportedPath { path: shown });
        }
    }

    fn load_dir(&mut self, dir: &Path) {
        let root = dir.to_path_buf();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let entries = match fs::read_dir(&d) {
                Ok(e) => e,
                Err(e) => {
                    self.problems.push(ArchiveProblem::Unreadable {
                        path: d.display().to_string(),
                        detail: e.to_string(),
                    });
                    continue;
                }
            };
            let mut paths: Vec<(PathBuf, fs::FileType)> = entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_type().ok().map(|t| (e.path(), t)))
                .collect();
            paths.sort_by(|a, b| a.0.cmp(&b.0));
            // Subdirectories are pushed in reverse so they are visited in name order. Symlinked
            // directories are not followed (no loops); symlinked class files are read.
            for (p, t) in paths.iter().rev() {
                if t.is_dir() {
                    stack.push(p.clone());
                }
            }
            for (p, t) in &paths {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default();
                if !t.is_dir() && name.ends_with(".class") && !is_module_info(&name) {
                    let release = p
                        .strip_prefix(&root)
                        .ok()
                        .and_then(|rel| rel.to_str())
                        .map(|rel| rel.replace(std::path::MAIN_SEPARATOR, "/"))
                        .and_then(|rel| versioned_entry(&rel).map(|(n, _)| n));
                    self.load_class_file_as(p, release);
                }
            }
        }
    }

    fn load_class_file(&mut self, path: &Path) {
        self.load_class_file_as(path, None);
    }

    fn load_class_file_as(&mut self, path: &Path, release: Option<u32>) {
        let origin = path.display().to_string();
        if is_module_info(&origin) {
            return;
        }
        if !fs::metadata(path).is_ok_and(|m| m.is_file()) {
            self.problems.push(ArchiveProblem::Unreadable {
                path: origin,
                detail: "not a regular file (a FIFO, device or socket): skipped".into(),
            });
            return;
        }
        let read = fs::File::open(path).and_then(|f| {
            let declared = f.metadata().map(|m| m.len()).unwrap_or(0);
            if declared > self.limits.max_class_bytes {
                return Ok(Err(declared));
            }
            let mut buf = Vec::with_capacity(declared as usize);
            f.take(self.limits.max_class_bytes + 1)
                .read_to_end(&mut buf)?;
            Ok(Ok(buf))
        });
        match read {
            Ok(Ok(bytes)) if bytes.len() as u64 > self.limits.max_class_bytes => {
                self.too_large(origin, bytes.len() as u64, self.limits.max_class_bytes)
            }
            Ok(Ok(bytes)) => self.add_class(origin, bytes, release),
            Ok(Err(size)) => self.too_large(origin, size, self.limits.max_class_bytes),
            Err(e) => self.problems.push(ArchiveProblem::Unreadable {
                path: origin,
                detail: e.to_string(),
            }),
        }
    }

    fn too_large(&mut self, origin: String, size: u64, limit: u64) {
        self.problems.push(ArchiveProblem::EntryTooLarge {
            origin,
            size,
            limit,
        });
    }

    fn add_class(&mut self, origin: String, bytes: Vec<u8>, release: Option<u32>) {
        if !is_class_file(&bytes) {
            self.problems.push(ArchiveProblem::NotAClassFile { origin });
            return;
        }
        let id = crc64::class_id(&bytes);
        self.classes.push(ClassEntry {
            origin,
            bytes,
            id,
            release,
            visited: None,
        });
    }

    /// Loads the classes of one archive held in memory. `top` archives may be fat jars or WARs;
    /// nested library jars are read as plain jars (their own nested jars are not on any class
    /// path). The zip directory is read here; the class entries are inflated and hashed on every
    /// core ([`inflate_classes`]), nested jars one after the other.
    fn load_archive(&mut self, bytes: &[u8], origin: &str, top: bool) {
        let mut zip = match zip::ZipArchive::new(io::Cursor::new(bytes)) {
            Ok(z) => z,
            Err(e) => {
                self.problems.push(ArchiveProblem::CorruptArchive {
                    origin: origin.to_string(),
                    detail: e.to_string(),
                });
                return;
            }
        };
        let layout = if !top {
            Layout::Plain
        } else if zip
            .file_names()
            .any(|n| n.is_ok_and(|n| n.starts_with("BOOT-INF/")))
        {
            Layout::SpringBoot
        } else if zip
            .file_names()
            .any(|n| n.is_ok_and(|n| n.starts_with("WEB-INF/")))
        {
            Layout::War
        } else {
            Layout::Plain
        };
        if let Some(problem) = overlapping_entries(&mut zip, origin) {
            self.problems.push(problem);
            return;
        }
        let multi_release =
            layout == Layout::Plain && self.is_multi_release(&mut zip, bytes, origin);
        let mut classes = Vec::new();
        let mut nested = Vec::new();
        // Entries holding the very same compressed bytes (and CRC and size) as an earlier one:
        // how many, by the earlier one's name. Every entry's compressed bytes are hashed (a key of
        // CRC and size alone would let a crafted archive put every entry in one bucket and
        // compare them all with each other), with foldhash, randomly seeded: SipHash over the
        // ~7 MB of a big jar was a third of this serial step.
        let mut contents: std::collections::HashMap<
            StoredContent<'_>,
            (String, usize),
            foldhash::quality::RandomState,
        > = Default::default();
        let mut over_budget: Option<(String, usize)> = None;
        for index in 0..zip.len() {
            let entry = match zip.by_index_raw(index) {
                Ok(e) => e,
                Err(e) => {
                    self.problems.push(ArchiveProblem::CorruptEntry {
                        origin: format!("{origin}!/#{index}"),
                        detail: e.to_string(),
                    });
                    continue;
                }
            };
            if entry.is_dir() {
                continue;
            }
            let name = match entry.name() {
                Ok(n) => n.into_owned(),
                Err(e) => {
                    self.problems.push(ArchiveProblem::CorruptEntry {
                        origin: format!("{origin}!/#{index}"),
                        detail: e.to_string(),
                    });
                    continue;
                }
            };
            let wanted = match classify_entry(layout, multi_release, &name, self.includes) {
                Some(w) => w,
                None => continue,
            };
            let entry_origin = format!("{origin}!/{name}");
            if let Some((_, skipped)) = &mut over_budget {
                *skipped += 1;
                continue;
            }
            let limit = match wanted {
                Wanted::Class(_) => self.limits.max_class_bytes,
                Wanted::NestedJar => self.limits.max_nested_jar_bytes,
            };
            let declared = entry.size();
            if declared > limit {
                self.too_large(entry_origin, declared, limit);
                continue;
            }
            let stored = match RawEntry::locate(&entry, bytes) {
                Ok(r) => r,
                Err(detail) => {
                    self.problems.push(ArchiveProblem::CorruptEntry {
                        origin: entry_origin,
                        detail,
                    });
                    continue;
                }
            };
            match contents.entry((stored.crc32, stored.size, stored.data)) {
                std::collections::hash_map::Entry::Occupied(mut o) => {
                    o.get_mut().1 += 1;
                    continue;
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert((name, 0));
                }
            }
            // Inflating never yields more than the declared size, so the declared sizes bound
            // what the archive costs.
            if declared > self.inflate_left {
                over_budget = Some((entry_origin, 1));
                continue;
            }
            self.inflate_left -= declared;
            match wanted {
                Wanted::Class(release) => classes.push((entry_origin, stored, release)),
                Wanted::NestedJar => nested.push((entry_origin, stored)),
            }
        }
        let mut duplicated: Vec<(String, usize)> =
            contents.into_values().filter(|&(_, n)| n > 0).collect();
        duplicated.sort();
        for (name, count) in duplicated.into_iter().take(8) {
            self.problems.push(ArchiveProblem::DuplicateEntries {
                origin: origin.to_string(),
                name,
                count,
            });
        }
        if let Some((first, skipped)) = over_budget {
            self.problems.push(ArchiveProblem::InflatesTooMuch {
                origin: origin.to_string(),
                limit: self.inflate_budget,
                ratio: self.limits.max_inflation_ratio,
                floor: self.limits.inflation_floor,
                skipped,
                first,
            });
        }
        let raw: Vec<&RawEntry<'_>> = classes.iter().map(|(_, raw, _)| raw).collect();
        let inflated = inflate_classes(&raw, self.visit);
        for (result, (entry_origin, _, release)) in inflated.into_iter().zip(classes) {
            match result {
                Ok((bytes, id, visited)) => self.classes.push(ClassEntry {
                    origin: entry_origin,
                    bytes,
                    id,
                    release,
                    visited,
                }),
                Err(EntryFault::NotAClass) => self.problems.push(ArchiveProblem::NotAClassFile {
                    origin: entry_origin,
                }),
                Err(EntryFault::Corrupt(detail)) => {
                    self.problems.push(ArchiveProblem::CorruptEntry {
                        origin: entry_origin,
                        detail,
                    })
                }
            }
        }
        let mut inflater = Inflater::new();
        for (entry_origin, stored) in nested {
            match stored.inflate(&mut inflater) {
                Ok(jar) => self.load_archive(&jar, &entry_origin, false),
                Err(detail) => self.problems.push(ArchiveProblem::CorruptEntry {
                    origin: entry_origin,
                    detail,
                }),
            }
        }
    }
}

impl<T: Send> Loader<'_, T> {
    /// True if the archive's manifest says `Multi-Release: true`. A manifest that cannot be read
    /// is reported and counts as absent (the base entries are still loaded).
    fn is_multi_release(
        &mut self,
        zip: &mut zip::ZipArchive<io::Cursor<&[u8]>>,
        bytes: &[u8],
        origin: &str,
    ) -> bool {
        let Some(index) = zip.index_for_name("META-INF/MANIFEST.MF") else {
            return false;
        };
        let entry_origin = format!("{origin}!/META-INF/MANIFEST.MF");
        let read = zip
            .by_index_raw(index)
            .map_err(|e| e.to_string())
            .and_then(|entry| {
                if entry.size() > MAX_MANIFEST_BYTES {
                    return Ok(None);
                }
                let raw = RawEntry::locate(&entry, bytes)?;
                raw.inflate(&mut Inflater::new()).map(Some)
            });
        match read {
            Ok(Some(manifest)) => manifest_is_multi_release(&manifest),
            Ok(None) => {
                self.too_large(entry_origin, MAX_MANIFEST_BYTES + 1, MAX_MANIFEST_BYTES);
                false
            }
            Err(detail) => {
                self.problems.push(ArchiveProblem::CorruptEntry {
                    origin: entry_origin,
                    detail,
                });
                false
            }
        }
    }
}

/// The first two entries of `zip` whose local header and data overlap, as a problem: jar tools
/// write every entry once, one after the other; entries sharing their data make a small file
/// inflate to gigabytes (the non-recursive zip bomb).
fn overlapping_entries(
    zip: &mut zip::ZipArchive<io::Cursor<&[u8]>>,
    origin: &str,
) -> Option<ArchiveProblem> {
    let mut spans: Vec<(u64, u64, usize)> = Vec::with_capacity(zip.len());
    for index in 0..zip.len() {
        // Entries that cannot be read are reported where they are read.
        let Ok(entry) = zip.by_index_raw(index) else {
            continue;
        };
        let start = entry.header_start();
        let end = entry
            .data_start()
            .unwrap_or(start)
            .saturating_add(entry.compressed_size())
            .max(start + 1);
        spans.push((start, end, index));
    }
    spans.sort_unstable();
    let pair = spans.windows(2).find(|w| w[1].0 < w[0].1)?;
    let name = |zip: &mut zip::ZipArchive<io::Cursor<&[u8]>>, i: usize| {
        zip.by_index_raw(i)
            .ok()
            .and_then(|e| e.name().ok().map(|n| n.into_owned()))
            .unwrap_or_else(|| format!("#{i}"))
    };
    Some(ArchiveProblem::OverlappingEntries {
        origin: origin.to_string(),
        first: name(zip, pair[0].2),
        second: name(zip, pair[1].2),
    })
}

/// What makes two entries the same: (CRC-32, inflated size, compressed bytes).
type StoredContent<'a> = (u32, usize, &'a [u8]);

/// The raw-deflate decompressor a loading thread reuses from one entry to the next.
type Inflater = libdeflater::Decompressor;

/// Where one entry's compressed bytes are in the archive, and what they must inflate to.
struct RawEntry<'a> {
    data: &'a [u8],
    deflated: bool,
    /// The size the directory declares, already checked against the limit.
    size: usize,
    crc32: u32,
}

impl<'a> RawEntry<'a> {
    fn locate<R: Read>(
        entry: &zip::read::ZipFile<'_, R>,
        archive: &'a [u8],
    ) -> Result<Self, String> {
        if entry.encrypted() {
            return Err("encrypted entries are not supported".into());
        }
        let deflated = match entry.compression() {
            zip::CompressionMethod::Stored => false,
            zip::CompressionMethod::Deflated => true,
            other => return Err(format!("unsupported compression method {other:?}")),
        };
        let start = entry
            .data_start()
            .ok_or_else(|| "the local header could not be read".to_string())?;
        let data = usize::try_from(start)
            .ok()
            .zip(usize::try_from(entry.compressed_size()).ok())
            .and_then(|(s, n)| archive.get(s..s.checked_add(n)?))
            .ok_or_else(|| {
                format!(
                    "compressed data at offset {start} ({} bytes) runs past the end of the archive",
                    entry.compressed_size()
                )
            })?;
        Ok(RawEntry {
            data,
            deflated,
            size: entry.size() as usize,
            crc32: entry.crc32(),
        })
    }

    /// The entry's bytes, checked against the declared size and CRC-32. Never allocates more
    /// than the declared size (itself bounded by the limit), whatever the compressed data says.
    /// Inflated by libdeflate in one call (the output's size is known): ~40 % less CPU than a
    /// streaming inflater on a jar's many small entries.
    fn inflate(&self, inflater: &mut Inflater) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        self.inflate_into(inflater, &mut out)?;
        Ok(out)
    }

    /// [`RawEntry::inflate`] into `out` (emptied first; its memory is reused when it is large
    /// enough).
    fn inflate_into(&self, inflater: &mut Inflater, out: &mut Vec<u8>) -> Result<(), String> {
        out.clear();
        if self.deflated {
            out.resize(self.size, 0);
            match inflater.deflate_decompress(self.data, out) {
                Ok(n) => out.truncate(n),
                Err(libdeflater::DecompressionError::InsufficientSpace) => {
                    return Err(format!(
                        "inflates to more than the declared {} bytes",
                        self.size
                    ));
                }
                Err(libdeflater::DecompressionError::BadData) => {
                    return Err(
                        "invalid deflate data (corrupt, or the compressed data ends early)".into(),
                    );
                }
            }
        } else {
            out.extend_from_slice(self.data);
        }
        if out.len() != self.size {
            return Err(format!(
                "{} bytes instead of the declared {}",
                out.len(),
                self.size
            ));
        }
        if crc32fast::hash(out) != self.crc32 {
            return Err("CRC-32 mismatch".into());
        }
        Ok(())
    }
}

enum EntryFault {
    NotAClass,
    Corrupt(String),
}

/// One inflated class entry: its bytes (empty when visited), JaCoCo class id and what the
/// visitor made of it, or why it was not loaded.
type Inflated<T> = Result<(Vec<u8>, u64, Option<T>), EntryFault>;

/// Inflates, checks and hashes class entries on every core, in input order; with a visitor,
/// each worker inflates into one buffer it reuses and hands it to `visit` instead of keeping it.
fn inflate_classes<T: Send>(
    entries: &[&RawEntry<'_>],
    visit: Option<Visitor<'_, T>>,
) -> Vec<Inflated<T>> {
    let one = |(inflater, buffer): &mut (Inflater, Vec<u8>), raw: &RawEntry<'_>| {
        let Some(visit) = visit else {
            let bytes = raw.inflate(inflater).map_err(EntryFault::Corrupt)?;
            if !is_class_file(&bytes) {
                return Err(EntryFault::NotAClass);
            }
            let id = crc64::class_id(&bytes);
            return Ok((bytes, id, None));
        };
        raw.inflate_into(inflater, buffer)
            .map_err(EntryFault::Corrupt)?;
        if !is_class_file(buffer) {
            return Err(EntryFault::NotAClass);
        }
        let id = crc64::class_id(buffer);
        let visited = visit(buffer, id);
        // One huge class does not keep its buffer for the rest of the load.
        if buffer.capacity() > REUSED_BUFFER_BYTES {
            *buffer = Vec::new();
        }
        Ok((Vec::new(), id, Some(visited)))
    };
    // Inflating alone: chunks of 16 entries keep the hand-out cheap. With a visitor (a class's
    // analysis costs far more, and varies), 2 at a time keep the cores evenly busy.
    let chunk = if visit.is_some() { 2 } else { 16 };
    crate::java::parallel::map_in_order(
        entries,
        64,
        chunk,
        || (Inflater::new(), Vec::new()),
        |state, raw| one(state, raw),
        |_| {
            Err(EntryFault::Corrupt(
                "the decompression worker failed".into(),
            ))
        },
    )
}

/// The largest inflate buffer a worker keeps from one entry to the next.
const REUSED_BUFFER_BYTES: usize = 4 << 20;

fn is_class_file(bytes: &[u8]) -> bool {
    bytes.len() >= 10 && bytes[..4] == [0xCA, 0xFE, 0xBA, 0xBE]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    /// A class file: a base entry (`None`) or a multi-release version.
    Class(Option<u32>),
    NestedJar,
}

/// What to do with one archive entry, by layout. `multi_release`: the archive's manifest says
/// `Multi-Release: true`, so `META-INF/versions/N/` overlays are classes too.
fn classify_entry(
    layout: Layout,
    multi_release: bool,
    name: &str,
    includes: &[String],
) -> Option<Wanted> {
    if is_module_info(name) {
        return None;
    }
    match layout.prefixes() {
        None => {
            if !name.ends_with(".class") {
                None
            } else if !name.starts_with("META-INF/") {
                Some(Wanted::Class(None))
            } else {
                // Only a multi-release jar's overlays are classes; the rest of META-INF is not on
                // the class path.
                match versioned_entry(name) {
                    Some((release, rest)) if multi_release && !is_module_info(rest) => {
                        Some(Wanted::Class(Some(release)))
                    }
                    _ => None,
                }
            }
        }
        Some((classes, lib)) => {
            if let Some(rest) = name.strip_prefix(classes) {
                (rest.ends_with(".class") && !rest.starts_with("META-INF/"))
                    .then_some(Wanted::Class(None))
            } else if let Some(file) = name.strip_prefix(lib) {
                (!file.contains('/')
                    && file.to_ascii_lowercase().ends_with(".jar")
                    && jar_included(file, includes))
                .then_some(Wanted::NestedJar)
            } else {
                // The Spring Boot launcher and anything else outside the class path.
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deflate(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[cfg(unix)]
    #[test]
    fn fifos_and_devices_are_never_opened_as_jars_or_classes() {
        let dir = tempfile::tempdir().unwrap();
        let zero = dir.path().join("zero.jar");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let fifo = dir.path().join("pipe.jar");
        let fifo_class = dir.path().join("Pipe.class");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .arg(&fifo_class)
            .status()
            .is_ok_and(|s| s.success());
        let mut paths = vec![zero.clone()];
        if made {
            paths.push(fifo.clone());
            paths.push(dir.path().to_path_buf());
        }
        // Returns at once: nothing blocks on a pipe or reads an endless device.
        let (classes, problems) = load_classes(&paths, &[]);
        assert!(classes.is_empty());
        let says = |p: &Path| {
            problems.iter().any(|x| {
                x.to_string().contains(&*p.to_string_lossy())
                    && x.to_string().contains("not a regular file")
            })
        };
        assert!(says(&zero), "{problems:?}");
        if made {
            assert!(says(&fifo), "{problems:?}");
            assert!(says(&fifo_class), "{problems:?}");
        }
    }

    #[test]
    fn inflating_checks_the_declared_size_and_crc() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let packed = deflate(&data);
        let crc = crc32fast::hash(&data);
        let mut inflater = Inflater::new();
        let raw = |data, deflated, size, crc32| RawEntry {
            data,
            deflated,
            size,
            crc32,
        };
        // The inflater is reused from one entry to the next.
        for _ in 0..2 {
            assert_eq!(
                raw(&packed, true, data.len(), crc).inflate(&mut inflater),
                Ok(data.clone())
            );
        }
        assert_eq!(
            raw(&data, false, data.len(), crc).inflate(&mut inflater),
            Ok(data.clone())
        );
        // Declared smaller than the stream: never more than the declared size is allocated.
        let short = raw(&packed, true, 100, crc)
            .inflate(&mut inflater)
            .unwrap_err();
        assert!(short.contains("more than the declared 100"), "{short}");
        // Declared larger, a cut stream, a wrong CRC, garbage.
        let long = raw(&packed, true, 6000, crc)
            .inflate(&mut inflater)
            .unwrap_err();
        assert!(long.contains("instead of the declared 6000"), "{long}");
        let cut = raw(&packed[..packed.len() / 2], true, data.len(), crc);
        assert!(cut.inflate(&mut inflater).is_err());
        let bad = raw(&packed, true, data.len(), crc ^ 1).inflate(&mut inflater);
        assert_eq!(bad, Err("CRC-32 mismatch".into()));
        assert!(
            raw(&[0xff; 40], true, 40, 0)
                .inflate(&mut inflater)
                .is_err()
        );
        assert!(
            raw(&data[..10], false, 11, crc)
                .inflate(&mut inflater)
                .is_err()
        );
        // Still good after the failures.
        assert_eq!(
            raw(&packed, true, data.len(), crc).inflate(&mut inflater),
            Ok(data)
        );
    }

    #[test]
    fn glob_patterns() {
        assert!(glob_match(b"myco-*.jar", b"myco-core-1.2.jar"));
        assert!(!glob_match(b"myco-*.jar", b"spring-core.jar"));
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"a?c*", b"abcdef"));
        assert!(!glob_match(b"a?c", b"ac"));
        assert!(glob_match(b"*-*-*.jar", b"a-b-c.jar"));
        assert!(jar_included("x.jar", &[]));
        assert!(jar_included("x.jar", &["y.jar".into(), "x*".into()]));
    }

    #[test]
    fn entry_classification() {
        let inc = vec!["myco-*.jar".to_string()];
        assert_eq!(
            classify_entry(Layout::Plain, false, "a/B.class", &inc),
            Some(Wanted::Class(None))
        );
        assert_eq!(
            classify_entry(Layout::Plain, false, "module-info.class", &inc),
            None
        );
        assert_eq!(
            classify_entry(Layout::Plain, false, "META-INF/versions/11/a/B.class", &inc),
            None
        );
        assert_eq!(
            classify_entry(Layout::Plain, false, "lib/x.jar", &inc),
            None
        );
        assert_eq!(
            classify_entry(
                Layout::SpringBoot,
                false,
                "BOOT-INF/classes/a/B.class",
                &inc
            ),
            Some(Wanted::Class(None))
        );
        assert_eq!(
            classify_entry(Layout::SpringBoot, false, "BOOT-INF/lib/myco-a.jar", &inc),
            Some(Wanted::NestedJar)
        );
        assert_eq!(
            classify_entry(Layout::SpringBoot, false, "BOOT-INF/lib/guava.jar", &inc),
            None
        );
        assert_eq!(
            classify_entry(
                Layout::SpringBoot,
                false,
                "org/springframework/boot/loader/Launcher.class",
                &inc
            ),
            None
        );
        assert_eq!(
            classify_entry(Layout::War, false, "WEB-INF/classes/a/B.class", &[]),
            Some(Wanted::Class(None))
        );
        assert_eq!(
            classify_entry(Layout::War, false, "WEB-INF/lib/any.jar", &[]),
            Some(Wanted::NestedJar)
        );
    }

    #[test]
    fn multi_release_overlays_are_classes_of_multi_release_jars_only() {
        let v11 = "META-INF/versions/11/a/B.class";
        assert_eq!(
            classify_entry(Layout::Plain, true, v11, &[]),
            Some(Wanted::Class(Some(11)))
        );
        assert_eq!(classify_entry(Layout::Plain, false, v11, &[]), None);
        for skipped in [
            "META-INF/versions/11/module-info.class",
            "META-INF/versions/8/a/B.class",
            "META-INF/versions/x11/a/B.class",
            "META-INF/versions/11/a/B.txt",
            "META-INF/other/a/B.class",
        ] {
            assert_eq!(
                classify_entry(Layout::Plain, true, skipped, &[]),
                None,
                "{skipped}"
            );
        }
        assert_eq!(
            classify_entry(Layout::Plain, true, "a/B.class", &[]),
            Some(Wanted::Class(None))
        );
        // Fat jars and WARs: the application classes are never read as multi-release.
        assert_eq!(
            classify_entry(
                Layout::SpringBoot,
                true,
                "BOOT-INF/classes/META-INF/versions/11/a/B.class",
                &[]
            ),
            None
        );
        assert_eq!(versioned_entry(v11), Some((11, "a/B.class")));
        assert_eq!(
            versioned_entry("META-INF/versions/17/B.class"),
            Some((17, "B.class"))
        );
        assert_eq!(versioned_entry("META-INF/versions/11/"), None);
        assert_eq!(
            versioned_entry("META-INF/versions/99999999999/a.class"),
            None
        );
        assert_eq!(versioned_entry("a/B.class"), None);
    }

    #[test]
    fn manifest_multi_release_attribute() {
        assert!(manifest_is_multi_release(
            b"Manifest-Version: 1.0\r\nMulti-Release: true\r\n\r\n"
        ));
        assert!(manifest_is_multi_release(b"multi-release:TRUE\n"));
        assert!(!manifest_is_multi_release(
            b"Manifest-Version: 1.0\nMulti-Release: false\n"
        ));
        // Only the main section counts.
        assert!(!manifest_is_multi_release(
            b"Manifest-Version: 1.0\n\nName: a/B.class\nMulti-Release: true\n"
        ));
        assert!(!manifest_is_multi_release(b"\xff\xfe"));
    }

    /// A class file whose bytes differ by `tag` (only the magic is checked here).
    #[test]
    fn visited_loading_hands_every_jar_class_to_the_visitor_once_and_keeps_folder_classes() {
        let dir = tempfile::tempdir().unwrap();
        // Many distinct entries (more than one worker's share), and one that is not a class.
        let mut entries: Vec<(String, Vec<u8>)> = (0..300u16)
            .map(|i| {
                let mut b = fake_class((i % 251) as u8);
                b.extend(i.to_le_bytes());
                (format!("p/C{i}.class"), b)
            })
            .collect();
        // A big class: more than the buffer a worker keeps.
        let mut big = fake_class(7);
        big.resize(REUSED_BUFFER_BYTES + 10, 1);
        entries.push(("p/Big.class".into(), big.clone()));
        entries.push(("p/Bad.class".into(), b"not a class".to_vec()));
        let named: Vec<(&str, Vec<u8>)> = entries
            .iter()
            .map(|(n, b)| (n.as_str(), b.clone()))
            .collect();
        let path = dir.path().join("app.jar");
        fs::write(&path, jar(&named)).unwrap();
        let folder = dir.path().join("classes");
        fs::create_dir_all(folder.join("q")).unwrap();
        fs::write(folder.join("q/D.class"), fake_class(9)).unwrap();
        let paths = vec![path, folder];
        let (plain, plain_problems) = load_classes(&paths, &[]);
        let seen = std::sync::Mutex::new(Vec::new());
        let visit = |bytes: &[u8], id: u64| {
            assert_eq!(crc64::class_id(bytes), id);
            seen.lock().unwrap().push(id);
            bytes.len()
        };
        let (visited, problems) = load_classes_visiting(&paths, &[], &visit);
        assert_eq!(problems, plain_problems, "the same problems");
        assert!(
            problems
                .iter()
                .any(|p| matches!(p, ArchiveProblem::NotAClassFile { .. })),
            "{problems:?}"
        );
        assert_eq!(visited.len(), plain.len());
        for (v, p) in visited.iter().zip(&plain) {
            assert_eq!((&v.origin, v.id, v.release), (&p.origin, p.id, p.release));
            if v.origin.contains(".jar!/") {
                assert_eq!(v.visited, Some(p.bytes.len()), "{}", v.origin);
                assert!(v.bytes.is_empty(), "a visited class is not kept");
            } else {
                assert_eq!(v.visited, None, "folder classes are left to the caller");
                assert_eq!(v.bytes, p.bytes);
            }
        }
        let mut seen = seen.into_inner().unwrap();
        seen.sort_unstable();
        let mut expected: Vec<u64> = plain
            .iter()
            .filter(|p| p.origin.contains(".jar!/"))
            .map(|p| p.id)
            .collect();
        expected.sort_unstable();
        assert_eq!(seen, expected, "each jar class visited once");
        assert_eq!(seen.len(), 301);
    }

    fn fake_class(tag: u8) -> Vec<u8> {
        let mut b = vec![0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 61, 0, 0, tag];
        b.push(tag);
        b
    }

    fn jar(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(
                *name,
                zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated),
            )
            .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    /// A zip of stored entries written by hand: each with its own local header, or, with
    /// `shared`, every central directory entry pointing at the first one's header and data.
    fn raw_zip(entries: &[(&str, &[u8])], shared: bool) -> Vec<u8> {
        let mut zip = Vec::new();
        let mut offsets = Vec::new();
        for (i, (name, data)) in entries.iter().enumerate() {
            if shared && i > 0 {
                offsets.push(0u32);
                continue;
            }
            offsets.push(zip.len() as u32);
            zip.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
            zip.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            zip.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
            zip.extend_from_slice(&(data.len() as u32).to_le_bytes());
            zip.extend_from_slice(&(data.len() as u32).to_le_bytes());
            zip.extend_from_slice(&(name.len() as u16).to_le_bytes());
            zip.extend_from_slice(&0u16.to_le_bytes());
            zip.extend_from_slice(name.as_bytes());
            zip.extend_from_slice(data);
        }
        let cd = zip.len();
        for ((name, data), offset) in entries.iter().zip(offsets) {
            let data = if shared { entries[0].1 } else { *data };
            zip.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            zip.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            zip.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
            zip.extend_from_slice(&(data.len() as u32).to_le_bytes());
            zip.extend_from_slice(&(data.len() as u32).to_le_bytes());
            zip.extend_from_slice(&(name.len() as u16).to_le_bytes());
            zip.extend_from_slice(&[0; 12]);
            zip.extend_from_slice(&offset.to_le_bytes());
            zip.extend_from_slice(name.as_bytes());
        }
        let cd_len = zip.len() - cd;
        zip.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        zip.extend_from_slice(&[0; 4]);
        zip.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        zip.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        zip.extend_from_slice(&(cd_len as u32).to_le_bytes());
        zip.extend_from_slice(&(cd as u32).to_le_bytes());
        zip.extend_from_slice(&0u16.to_le_bytes());
        zip
    }

    fn load_one(bytes: &[u8], limits: &ArchiveLimits) -> (Vec<ClassEntry>, Vec<ArchiveProblem>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.jar");
        fs::write(&path, bytes).unwrap();
        load_classes_with_limits(&[path], &[], limits)
    }

    #[test]
    fn overlapping_entries_refuse_the_archive() {
        let (a, b) = (fake_class(1), fake_class(2));
        let bomb = raw_zip(
            &[("a/A.class", &a), ("a/B.class", &a), ("a/C.class", &a)],
            true,
        );
        let (classes, problems) = load_one(&bomb, &ArchiveLimits::default());
        assert!(classes.is_empty());
        assert!(
            matches!(&problems[..], [ArchiveProblem::OverlappingEntries { origin, first, second }]
                if origin.ends_with("app.jar") && first == "a/A.class" && second != first),
            "{problems:?}"
        );
        // The same entries one after the other are a plain jar.
        let fine = raw_zip(&[("a/A.class", &a), ("a/B.class", &b)], false);
        let (classes, problems) = load_one(&fine, &ArchiveLimits::default());
        assert_eq!(classes.len(), 2, "{problems:?}");
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn one_class_copied_under_many_names_is_read_once() {
        let (a, b) = (fake_class(1), fake_class(2));
        let names: Vec<String> = (0..500).map(|i| format!("a/A{i:03}.class")).collect();
        let mut entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &a[..])).collect();
        entries.push(("b/B.class", &b));
        let (classes, problems) = load_one(&raw_zip(&entries, false), &ArchiveLimits::default());
        assert_eq!(classes.len(), 2, "{problems:?}");
        assert!(
            matches!(&problems[..], [ArchiveProblem::DuplicateEntries { name, count: 499, .. }]
                if name == "a/A000.class"),
            "{problems:?}"
        );
    }

    #[test]
    fn what_an_archive_inflates_to_is_bounded_by_its_size() {
        // Classes of zeros deflate to almost nothing: 20 of 64 KiB from a jar of a few KB.
        let mut class = vec![0u8; 64 << 10];
        class[..4].copy_from_slice(&[0xCA, 0xFE, 0xBA, 0xBE]);
        let entries: Vec<(String, Vec<u8>)> = (0..20u8)
            .map(|i| {
                let mut c = class.clone();
                c[100] = i;
                (format!("a/C{i:02}.class"), c)
            })
            .collect();
        let refs: Vec<(&str, Vec<u8>)> = entries
            .iter()
            .map(|(n, c)| (n.as_str(), c.clone()))
            .collect();
        let bytes = jar(&refs);
        assert!(bytes.len() < 20 << 10, "{}", bytes.len());
        let limits = ArchiveLimits {
            inflation_floor: 200 << 10,
            max_inflation_ratio: 1,
            ..ArchiveLimits::default()
        };
        let (classes, problems) = load_one(&bytes, &limits);
        let budget = (200 << 10) + bytes.len();
        assert_eq!(classes.len(), budget / (64 << 10), "{problems:?}");
        assert!(
            matches!(&problems[..], [ArchiveProblem::InflatesTooMuch { skipped, first, .. }]
                if *skipped == 20 - classes.len() && first.ends_with(".class")),
            "{problems:?}"
        );
        assert!(problems[0].to_string().contains("app.jar"));
        // The default budget loads it whole.
        let (classes, problems) = load_one(&bytes, &ArchiveLimits::default());
        assert_eq!((classes.len(), problems.len()), (20, 0), "{problems:?}");
        // An archive larger than the limit is not read at all.
        let limits = ArchiveLimits {
            max_archive_bytes: 1000,
            ..ArchiveLimits::default()
        };
        let (classes, problems) = load_one(&bytes, &limits);
        assert!(classes.is_empty());
        assert!(
            matches!(
                &problems[..],
                [ArchiveProblem::EntryTooLarge { limit: 1000, .. }]
            ),
            "{problems:?}"
        );
    }

    #[test]
    fn every_version_of_a_multi_release_jar_is_loaded_with_its_release() {
        let dir = std::env::temp_dir().join(format!("covtop-mrjar-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let entries = |manifest: &str| {
            vec![
                ("META-INF/MANIFEST.MF", manifest.as_bytes().to_vec()),
                ("a/B.class", fake_class(1)),
                ("META-INF/versions/11/a/B.class", fake_class(2)),
                ("META-INF/versions/17/a/B.class", fake_class(3)),
            ]
        };
        let mr = dir.join("mr.jar");
        fs::write(
            &mr,
            jar(&entries("Manifest-Version: 1.0\r\nMulti-Release: true\r\n")),
        )
        .unwrap();
        let plain = dir.join("plain.jar");
        fs::write(&plain, jar(&entries("Manifest-Version: 1.0\r\n"))).unwrap();
        let (classes, problems) = load_classes(std::slice::from_ref(&mr), &[]);
        assert!(problems.is_empty(), "{problems:?}");
        let mut got: Vec<(String, Option<u32>, u64)> = classes
            .iter()
            .map(|c| {
                (
                    c.origin.rsplit("!/").next().unwrap().to_string(),
                    c.release,
                    c.id,
                )
            })
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                (
                    "META-INF/versions/11/a/B.class".into(),
                    Some(11),
                    crc64::class_id(&fake_class(2))
                ),
                (
                    "META-INF/versions/17/a/B.class".into(),
                    Some(17),
                    crc64::class_id(&fake_class(3))
                ),
                ("a/B.class".into(), None, crc64::class_id(&fake_class(1))),
            ]
        );
        // Without the manifest attribute the JVM ignores the overlays, and so does the loader.
        let (classes, problems) = load_classes(std::slice::from_ref(&plain), &[]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(classes.len(), 1);
        assert_eq!(classes[0].release, None);
        // An unpacked jar keeps the layout: its overlay files are marked by their path.
        let unpacked = dir.join("unpacked");
        fs::create_dir_all(unpacked.join("a")).unwrap();
        fs::create_dir_all(unpacked.join("META-INF/versions/11/a")).unwrap();
        fs::write(unpacked.join("a/B.class"), fake_class(1)).unwrap();
        fs::write(
            unpacked.join("META-INF/versions/11/a/B.class"),
            fake_class(2),
        )
        .unwrap();
        let (classes, _) = load_classes(&[unpacked], &[]);
        let mut releases: Vec<Option<u32>> = classes.iter().map(|c| c.release).collect();
        releases.sort();
        assert_eq!(releases, vec![None, Some(11)]);
        let _ = fs::remove_dir_all(&dir);
    }
}
