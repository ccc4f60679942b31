//! Loading class files from directories, plain jars, Spring Boot fat jars and WARs built here
//! from classes compiled by javac, including broken and hostile archives.

mod common;
mod support_java;

use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use covtop::java::archive::{
    ArchiveLimits, ArchiveProblem, load_classes, load_classes_with_limits,
};
use covtop::java::crc64;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

struct Compiled {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    /// `shop/Cart.class` -> bytes
    classes: BTreeMap<String, Vec<u8>>,
    module_info: Vec<u8>,
}

fn compile() -> Option<Compiled> {
    if !common::have_tool("javac", "-version") {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("classes");
    support_java::javac(11, &out, None, &support_java::shop_sources());
    let mut classes = BTreeMap::new();
    for e in std::fs::read_dir(out.join("shop")).unwrap() {
        let p = e.unwrap().path();
        let name = format!("shop/{}", p.file_name().unwrap().to_string_lossy());
        classes.insert(name, std::fs::read(&p).unwrap());
    }
    let msrc = tmp.path().join("msrc");
    std::fs::create_dir_all(&msrc).unwrap();
    std::fs::write(msrc.join("module-info.java"), "module shopmod { }\n").unwrap();
    let mout = tmp.path().join("mout");
    support_java::javac(11, &mout, None, &[msrc.join("module-info.java")]);
    let module_info = std::fs::read(mout.join("module-info.class")).unwrap();
    Some(Compiled {
        root: tmp.path().to_path_buf(),
        _tmp: tmp,
        classes,
        module_info,
    })
}

fn zip_bytes(entries: &[(&str, &[u8], CompressionMethod)]) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes, method) in entries {
        w.start_file(
            *name,
            SimpleFileOptions::default().compression_method(*method),
        )
        .unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

const D: CompressionMethod = CompressionMethod::Deflated;
const S: CompressionMethod = CompressionMethod::Stored;

fn origins(entries: &[covtop::java::archive::ClassEntry]) -> Vec<String> {
    let mut v: Vec<String> = entries.iter().map(|e| e.origin.clone()).collect();
    v.sort();
    v
}

fn check_ids(entries: &[covtop::java::archive::ClassEntry]) {
    for e in entries {
        assert_eq!(e.id, crc64::class_id(&e.bytes), "{}", e.origin);
    }
}

#[test]
fn spring_boot_fat_jar_with_filtered_nested_libs() {
    let Some(c) = compile() else { return };
    let pricing = &c.classes["shop/PricingRule.class"];
    let cart = &c.classes["shop/Cart.class"];
    let lib_ok = zip_bytes(&[
        ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n", D),
        ("shop/PricingRule.class", pricing, D),
        ("module-info.class", &c.module_info, D),
    ]);
    let lib_third_party = zip_bytes(&[("com/other/Thing.class", cart, D)]);
    let mut entries: Vec<(String, Vec<u8>, CompressionMethod)> = vec![
        (
            "META-INF/MANIFEST.MF".into(),
            b"Main-Class: x\n".to_vec(),
            D,
        ),
        (
            "org/springframework/boot/loader/JarLauncher.class".into(),
            cart.clone(),
            D,
        ),
        (
            "BOOT-INF/classes/module-info.class".into(),
            c.module_info.clone(),
            D,
        ),
        (
            "BOOT-INF/classes/application.properties".into(),
            b"x=1".to_vec(),
            D,
        ),
        ("BOOT-INF/lib/myco-pricing-1.0.jar".into(), lib_ok, S),
        ("BOOT-INF/lib/guava-31.jar".into(), lib_third_party, S),
        (
            "BOOT-INF/lib/myco-broken.jar".into(),
            b"PK\x03\x04 not really".to_vec(),
            S,
        ),
    ];
    for (name, bytes) in &c.classes {
        entries.push((format!("BOOT-INF/classes/{name}"), bytes.clone(), D));
    }
    let refs: Vec<(&str, &[u8], CompressionMethod)> = entries
        .iter()
        .map(|(n, b, m)| (n.as_str(), b.as_slice(), *m))
        .collect();
    let jar = c.root.join("app.jar");
    std::fs::write(&jar, zip_bytes(&refs)).unwrap();

    let (loaded, problems) = load_classes(std::slice::from_ref(&jar), &["myco-*.jar".to_string()]);
    let j = jar.display().to_string();
    let mut expected: Vec<String> = c
        .classes
        .keys()
        .map(|n| format!("{j}!/BOOT-INF/classes/{n}"))
        .collect();
    expected.push(format!(
        "{j}!/BOOT-INF/lib/myco-pricing-1.0.jar!/shop/PricingRule.class"
    ));
    expected.sort();
    assert_eq!(origins(&loaded), expected);
    check_ids(&loaded);
    // The nested copy is byte-identical to the compiled class, so it has the same id.
    let nested = loaded
        .iter()
        .find(|e| e.origin.contains("myco-pricing"))
        .unwrap();
    assert_eq!(nested.id, crc64::class_id(pricing));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        matches!(&problems[0], ArchiveProblem::CorruptArchive { origin, .. } if origin.ends_with("BOOT-INF/lib/myco-broken.jar")),
        "{problems:?}"
    );
    assert!(problems[0].to_string().contains("myco-broken.jar"));

    // No includes: every nested jar, the third-party one too.
    let (all, _) = load_classes(&[jar], &[]);
    assert!(
        all.iter()
            .any(|e| e.origin.ends_with("guava-31.jar!/com/other/Thing.class"))
    );
}

#[test]
fn war_layout_and_a_plain_multi_release_jar() {
    let Some(c) = compile() else { return };
    let lib = zip_bytes(&[(
        "shop/PricingRule.class",
        &c.classes["shop/PricingRule.class"],
        D,
    )]);
    let mut war_entries: Vec<(String, Vec<u8>, CompressionMethod)> = vec![
        ("index.html".into(), b"<html/>".to_vec(), D),
        ("WEB-INF/web.xml".into(), b"<web-app/>".to_vec(), D),
        ("WEB-INF/lib/myco-rules.jar".into(), lib, D),
    ];
    war_entries.push((
        "WEB-INF/classes/shop/Cart.class".into(),
        c.classes["shop/Cart.class"].clone(),
        D,
    ));
    let refs: Vec<(&str, &[u8], CompressionMethod)> = war_entries
        .iter()
        .map(|(n, b, m)| (n.as_str(), b.as_slice(), *m))
        .collect();
    let war = c.root.join("shop.war");
    std::fs::write(&war, zip_bytes(&refs)).unwrap();
    let (loaded, problems) = load_classes(std::slice::from_ref(&war), &[]);
    assert!(problems.is_empty(), "{problems:?}");
    let w = war.display().to_string();
    assert_eq!(
        origins(&loaded),
        vec![
            format!("{w}!/WEB-INF/classes/shop/Cart.class"),
            format!("{w}!/WEB-INF/lib/myco-rules.jar!/shop/PricingRule.class"),
        ]
    );
    check_ids(&loaded);

    // Multi-release: the base entry is used, the overlay ignored.
    let jar = c.root.join("plain.jar");
    std::fs::write(
        &jar,
        zip_bytes(&[
            ("module-info.class", &c.module_info, D),
            ("shop/Cart.class", &c.classes["shop/Cart.class"], D),
            (
                "META-INF/versions/17/shop/Cart.class",
                &c.classes["shop/Main.class"],
                D,
            ),
            ("shop/NotAClass.class", b"plain text, not a class", D),
        ]),
    )
    .unwrap();
    let (loaded, problems) = load_classes(std::slice::from_ref(&jar), &[]);
    assert_eq!(loaded.len(), 1);
    assert_eq!(&*loaded[0].bytes, c.classes["shop/Cart.class"].as_slice());
    assert_eq!(
        problems,
        vec![ArchiveProblem::NotAClassFile {
            origin: format!("{}!/shop/NotAClass.class", jar.display())
        }]
    );
}

#[test]
fn directories_are_walked_and_problems_do_not_stop_the_rest() {
    let Some(c) = compile() else { return };
    let dir = c.root.join("classes");
    std::fs::write(dir.join("module-info.class"), &c.module_info).unwrap();
    let corrupt_jar = c.root.join("corrupt.jar");
    std::fs::write(&corrupt_jar, b"this is not a zip file at all").unwrap();
    let missing = c.root.join("missing.jar");
    let odd = c.root.join("notes.txt");
    std::fs::write(&odd, "x").unwrap();
    let paths = [
        corrupt_jar.clone(),
        dir.clone(),
        missing.clone(),
        odd.clone(),
    ];
    let (loaded, problems) = load_classes(&paths, &[]);
    let expected: Vec<String> = c
        .classes
        .keys()
        .map(|n| dir.join(n).display().to_string())
        .collect();
    assert_eq!(origins(&loaded), expected);
    check_ids(&loaded);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(
        matches!(&problems[0], ArchiveProblem::CorruptArchive { origin, .. } if *origin == corrupt_jar.display().to_string())
    );
    assert!(
        matches!(&problems[1], ArchiveProblem::Unreadable { path, .. } if *path == missing.display().to_string())
    );
    assert!(matches!(
        &problems[2],
        ArchiveProblem::UnsupportedPath { .. }
    ));
}

/// Offset of the first central directory header (signature PK 01 02).
fn central_header(bytes: &[u8]) -> usize {
    bytes
        .windows(4)
        .position(|w| w == [0x50, 0x4b, 0x01, 0x02])
        .expect("central directory")
}

#[test]
fn zip_bombs_and_lying_sizes_cost_at_most_the_limit() {
    let Some(c) = compile() else { return };
    // 3 MiB that deflate to a few kilobytes, with a 1 MiB class limit.
    let mut big = c.classes["shop/Cart.class"].clone();
    big.resize(3 << 20, 0);
    let bomb = c.root.join("bomb.jar");
    std::fs::write(
        &bomb,
        zip_bytes(&[
            ("shop/Huge.class", &big, D),
            ("shop/Cart.class", &c.classes["shop/Cart.class"], D),
        ]),
    )
    .unwrap();
    assert!(std::fs::metadata(&bomb).unwrap().len() < 100_000);
    let limits = ArchiveLimits {
        max_class_bytes: 1 << 20,
        max_nested_jar_bytes: 1 << 20,
        ..ArchiveLimits::default()
    };
    let (loaded, problems) = load_classes_with_limits(std::slice::from_ref(&bomb), &[], &limits);
    assert_eq!(loaded.len(), 1);
    assert_eq!(
        problems,
        vec![ArchiveProblem::EntryTooLarge {
            origin: format!("{}!/shop/Huge.class", bomb.display()),
            size: 3 << 20,
            limit: 1 << 20,
        }]
    );

    // A declared size of almost 4 GiB in the central directory: rejected from the header, with
    // the default limits, without reading or allocating.
    let mut bytes = zip_bytes(&[
        ("shop/Lie.class", &c.classes["shop/Cart.class"], S),
        ("shop/Main.class", &c.classes["shop/Main.class"], S),
    ]);
    let cd = central_header(&bytes);
    bytes[cd + 24..cd + 28].copy_from_slice(&0xFFFF_0000u32.to_le_bytes());
    let liar = c.root.join("liar.jar");
    std::fs::write(&liar, &bytes).unwrap();
    let (loaded, problems) = load_classes(std::slice::from_ref(&liar), &[]);
    assert!(
        problems.iter().any(|p| matches!(
            p,
            ArchiveProblem::EntryTooLarge {
                size: 0xFFFF_0000,
                ..
            }
        )),
        "{problems:?}"
    );
    assert_eq!(
        origins(&loaded),
        vec![format!("{}!/shop/Main.class", liar.display())]
    );

    // A damaged deflate stream: that entry is reported, the next one still loads.
    let mut bytes = zip_bytes(&[
        ("shop/Cart.class", &c.classes["shop/Cart.class"], D),
        ("shop/Main.class", &c.classes["shop/Main.class"], D),
    ]);
    let name_len = u16::from_le_bytes([bytes[26], bytes[27]]) as usize;
    let extra_len = u16::from_le_bytes([bytes[28], bytes[29]]) as usize;
    let data = 30 + name_len + extra_len;
    for b in &mut bytes[data + 10..data + 40] {
        *b ^= 0x5A;
    }
    let damaged = c.root.join("damaged.jar");
    std::fs::write(&damaged, &bytes).unwrap();
    let (loaded, problems) = load_classes(std::slice::from_ref(&damaged), &[]);
    assert_eq!(
        origins(&loaded),
        vec![format!("{}!/shop/Main.class", damaged.display())]
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        matches!(&problems[0], ArchiveProblem::CorruptEntry { origin, .. } if origin.ends_with("!/shop/Cart.class")),
        "{problems:?}"
    );
}

#[test]
fn oversized_class_file_in_a_directory_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let p: &Path = tmp.path();
    let mut bytes = vec![0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 55];
    bytes.resize(2048, 0);
    std::fs::write(p.join("Big.class"), &bytes).unwrap();
    std::fs::write(p.join("Small.class"), &bytes[..16]).unwrap();
    let limits = ArchiveLimits {
        max_class_bytes: 1024,
        max_nested_jar_bytes: 1024,
        ..ArchiveLimits::default()
    };
    let (loaded, problems) = load_classes_with_limits(&[p.to_path_buf()], &[], &limits);
    assert_eq!(loaded.len(), 1);
    assert!(loaded[0].origin.ends_with("Small.class"));
    assert!(
        matches!(
            &problems[..],
            [ArchiveProblem::EntryTooLarge { size: 2048, .. }]
        ),
        "{problems:?}"
    );
}
