//! The exec format and class ids against the real JaCoCo: the spec's recorded dump, files we
//! write read back by JaCoCo's own `ExecFileLoader`, and class ids compared with what the real
//! agent reports for classes compiled at Java 8, 9 (the CRC64 quirk), 11 and 17.

mod common;
mod support_java;

use std::path::{Path, PathBuf};

use covtop::java::crc64;
use covtop::java::exec::{self, ClassProbes, ExecData, SessionInfo};
use support_java::*;

/// The recorded spec fixtures, copied into the repository.
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/javasample/recorded")
        .join(name)
}

fn read_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("read fixture")
}

#[test]
fn dump1_parses_to_the_recorded_exchange() {
    let bytes = read_fixture("dump1.exec");
    let data = exec::parse(&bytes, "dump1.exec").expect("dump1.exec parses");
    assert_eq!(
        data.sessions,
        vec![SessionInfo {
            id: "demo-pod-1".into(),
            start: 1_795_286_369_345,
            dump: 1_795_286_372_360,
        }]
    );
    let got: Vec<(u64, &str, String)> = data
        .classes
        .iter()
        .map(|(id, c)| {
            let bits = c.probes.iter().map(|p| if p { '1' } else { '0' }).collect();
            (*id, c.name.as_str(), bits)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (0x33ce_b0bc_4966_6df7, "demo/App$Greeter", "1".to_string()),
            (
                0x348e_8a3b_e340_106c,
                "demo/App",
                "0011110111011101111110111".to_string()
            ),
        ]
    );
    // The agent's bytes are exactly what we would write for the same data.
    assert_eq!(data.to_bytes().unwrap(), bytes);
}

#[test]
fn jacoco_reads_the_recorded_dump_and_our_rewrite_as_we_do() {
    if !have_java_and_jacoco() {
        return;
    }
    let bytes = read_fixture("dump1.exec");
    let tmp = tempfile::tempdir().unwrap();
    let cp = build_exec_dump(tmp.path());
    let ours_data = exec::parse(&bytes, "dump1.exec").unwrap();
    let theirs = jacoco_read(&cp, &[&fixture("dump1.exec")]).expect("JaCoCo loads dump1.exec");
    assert_eq!(theirs, ours(&ours_data));
    let rewritten = tmp.path().join("rewritten.exec");
    std::fs::write(&rewritten, ours_data.to_bytes().unwrap()).unwrap();
    assert_eq!(jacoco_read(&cp, &[&rewritten]).unwrap(), theirs);
}

/// Data with awkward strings and sizes: NUL and non-BMP characters (modified UTF-8), probe
/// counts around byte and varint boundaries, a class with no hits (not written), ids with the
/// top bit set.
fn awkward_data() -> ExecData {
    let mut d = ExecData::default();
    d.sessions.push(SessionInfo {
        id: "pod-\u{0}-é-日本-😀".into(),
        start: 1_700_000_000_000,
        dump: 1_700_000_000_500,
    });
    d.sessions.push(SessionInfo {
        id: "pod-b".into(),
        start: 5,
        dump: 6,
    });
    for (i, count) in [1usize, 7, 8, 9, 127, 128, 129, 16_385]
        .into_iter()
        .enumerate()
    {
        let probes = (0..count).map(|p| (p * 7 + i) % 3 == 0).collect();
        d.classes.insert(
            0x8000_0000_0000_0000 | (i as u64 * 0x0101_0101),
            ClassProbes {
                name: format!("p/K{i}$Inner😀\u{0}"),
                probes,
            },
        );
    }
    d.classes.insert(
        3,
        ClassProbes {
            name: "p/NeverRan".into(),
            probes: vec![false; 12].into(),
        },
    );
    d
}

#[test]
fn files_we_write_load_in_jacoco_with_identical_content() {
    if !have_java_and_jacoco() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cp = build_exec_dump(tmp.path());
    let data = awkward_data();
    let file = tmp.path().join("awkward.exec");
    std::fs::write(&file, data.to_bytes().unwrap()).unwrap();
    let theirs = jacoco_read(&cp, &[&file]).expect("JaCoCo loads our file");
    let mut expected = data.clone();
    expected.classes.remove(&3);
    assert_eq!(theirs, ours(&expected));
    assert!(!theirs.contains("NeverRan"));
    // And our reader reads our file back to the same data.
    assert_eq!(
        exec::parse(&std::fs::read(&file).unwrap(), "awkward.exec").unwrap(),
        expected
    );
}

#[test]
fn jacoco_merges_like_we_do_and_rejects_what_we_reject() {
    if !have_java_and_jacoco() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cp = build_exec_dump(tmp.path());
    let a = awkward_data();
    let mut b = ExecData::default();
    for (id, c) in &a.classes {
        let flipped = c.probes.iter().map(|p| !p).collect();
        b.classes.insert(
            *id,
            ClassProbes {
                name: c.name.clone(),
                probes: flipped,
            },
        );
    }
    let (fa, fb) = (tmp.path().join("a.exec"), tmp.path().join("b.exec"));
    std::fs::write(&fa, a.to_bytes().unwrap()).unwrap();
    std::fs::write(&fb, b.to_bytes().unwrap()).unwrap();
    let mut merged = a.clone();
    merged.merge(&b).unwrap();
    merged
        .classes
        .values()
        .for_each(|c| assert!(c.probes.iter().all(|p| p)));
    let both = jacoco_read(&cp, &[&fa, &fb]).unwrap();
    let mut expected = merged.clone();
    expected.classes.retain(|_, c| c.any_hit());
    assert_eq!(both, ours(&expected));

    // Same id, other probe count: JaCoCo refuses, and so do we.
    let mut c = ExecData::default();
    let (id, first) = a.classes.iter().find(|(_, c)| c.any_hit()).unwrap();
    c.classes.insert(
        *id,
        ClassProbes {
            name: first.name.clone(),
            probes: vec![true; first.probes.len() + 1].into(),
        },
    );
    let fc = tmp.path().join("c.exec");
    std::fs::write(&fc, c.to_bytes().unwrap()).unwrap();
    let err = jacoco_read(&cp, &[&fa, &fc]).unwrap_err();
    assert!(err.contains("Incompatible execution data"), "{err}");
    let ours_err = a.clone().merge(&c).unwrap_err().to_string();
    assert!(ours_err.contains(&format!("{id:016x}")), "{ours_err}");
}

fn class_file(root: &Path, vm_name: &str) -> Vec<u8> {
    std::fs::read(root.join(format!("{vm_name}.class"))).expect("class file")
}

#[test]
fn class_ids_equal_what_the_real_agent_reports() {
    if !have_java_and_jacoco() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ids = support_dir().join("ids");
    let (d8, d9, d17) = (
        tmp.path().join("r8"),
        tmp.path().join("r9"),
        tmp.path().join("r17"),
    );
    javac(8, &d8, None, &[ids.join("Run8.java")]);
    javac(9, &d9, None, &[ids.join("Nine.java")]);
    javac(17, &d17, None, &[ids.join("Seventeen.java")]);
    let agent = extract_agent(tmp.path());
    let exec_file = tmp.path().join("ids.exec");
    let cp = format!("{}:{}:{}", d8.display(), d9.display(), d17.display());
    let out = std::process::Command::new("java")
        .arg(format!(
            "-javaagent:{}=output=file,destfile={},includes=ids.*,sessionid=ids-run",
            agent.display(),
            exec_file.display()
        ))
        .args(["-cp", &cp, "ids.Run8"])
        .output()
        .expect("run java");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "sum=28");

    let data = exec::parse(&std::fs::read(&exec_file).unwrap(), "ids.exec").unwrap();
    assert_eq!(data.sessions.len(), 1);
    assert_eq!(data.sessions[0].id, "ids-run");
    let by_name: std::collections::HashMap<&str, u64> = data
        .classes
        .iter()
        .map(|(id, c)| (c.name.as_str(), *id))
        .collect();
    for (dir, name, major) in [
        (&d8, "ids/Run8", 52u8),
        (&d9, "ids/Nine", 53),
        (&d17, "ids/Seventeen", 61),
    ] {
        let bytes = class_file(dir, name);
        assert_eq!(bytes[7], major, "{name} major version");
        let agent_id = *by_name
            .get(name)
            .unwrap_or_else(|| panic!("{name} not in the dump: {by_name:?}"));
        assert_eq!(crc64::class_id(&bytes), agent_id, "{name}");
        if major == 53 {
            // Without the quirk the id would not match.
            assert_ne!(crc64::checksum(&bytes), agent_id);
        } else {
            assert_eq!(crc64::checksum(&bytes), agent_id);
        }
    }
}

#[test]
fn the_demo_app_compiles_to_the_ids_in_the_recorded_dump() {
    if !have_java_and_jacoco() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    javac(11, tmp.path(), None, &[fixture("App.java")]);
    // javac output is deterministic for one JDK build; the recorded dump came from this JDK.
    assert_eq!(
        crc64::class_id(&class_file(tmp.path(), "demo/App")),
        0x348e_8a3b_e340_106c
    );
    assert_eq!(
        crc64::class_id(&class_file(tmp.path(), "demo/App$Greeter")),
        0x33ce_b0bc_4966_6df7
    );
}
