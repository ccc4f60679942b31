//! The merged JaCoCo exec export, read back by JaCoCo's own `ExecFileLoader` (ExecDump): what
//! it loads from our merged file equals what it loads when it merges the replicas' files itself.

mod common;
mod support_java;

use covtop::java::exec::{self, ExecData, SessionInfo};
use covtop::model::View;
use covtop::report::{ExportOptions, RawData, export, export_bytes};
use std::path::Path;
use support_java::*;

/// The agent's recorded dump (replica A) and a second replica that ran other probes.
fn replicas() -> (ExecData, ExecData) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/javasample/recorded/dump1.exec");
    let a = exec::parse(&std::fs::read(&path).unwrap(), "dump1.exec").unwrap();
    let mut b = a.clone();
    b.sessions = vec![SessionInfo {
        id: "replica-b".to_string(),
        start: 1_700_000_000_000,
        dump: 1_700_000_060_000,
    }];
    for c in b.classes.values_mut() {
        // Replica B ran exactly the probes replica A did not.
        c.probes = c.probes.iter().map(|p| !p).collect();
    }
    (a, b)
}

#[test]
fn jacoco_loads_our_merged_exec_as_it_merges_the_replicas() {
    if !have_java_and_jacoco() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cp = build_exec_dump(tmp.path());
    let (a, b) = replicas();
    let a_file = tmp.path().join("a.exec");
    let b_file = tmp.path().join("b.exec");
    std::fs::write(&a_file, a.to_bytes().unwrap()).unwrap();
    std::fs::write(&b_file, b.to_bytes().unwrap()).unwrap();
    let theirs = jacoco_read(&cp, &[&a_file, &b_file]).unwrap();

    let mut merged = a.clone();
    merged.merge(&b).unwrap();
    let raw = RawData {
        go: None,
        java: vec![
            ("shop".to_string(), merged.clone()),
            ("other".to_string(), b.clone()),
        ],
    };
    let out = tmp.path().join("cov.exec");
    export(
        &View::default(),
        &raw,
        "jacoco-exec",
        &ExportOptions::default(),
        &out,
    )
    .unwrap();

    // Two targets: one file each, named after the target.
    let shop = tmp.path().join("cov.shop.exec");
    let other = tmp.path().join("cov.other.exec");
    assert!(!out.exists());
    let loaded = jacoco_read(&cp, &[&shop]).unwrap();
    assert_eq!(loaded, theirs);
    assert_eq!(loaded, ours(&merged));
    // B ran exactly what A missed: the merge has every probe of every class set.
    let classes: Vec<&str> = loaded.lines().filter(|l| l.starts_with("class ")).collect();
    assert!(!classes.is_empty());
    for c in classes {
        let bits = c.rsplit(' ').next().unwrap();
        assert!(bits.chars().all(|b| b == '1'), "{c}");
    }
    assert_eq!(
        jacoco_read(&cp, &[&other]).unwrap(),
        jacoco_read(&cp, &[&b_file]).unwrap()
    );

    // Several targets cannot share one stream.
    let e = export_bytes(
        &View::default(),
        &raw,
        "jacoco-exec",
        &ExportOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("2 JaCoCo targets"), "{e}");

    // One target: exactly the path asked for.
    let single = RawData {
        go: None,
        java: vec![("shop".to_string(), merged)],
    };
    export(
        &View::default(),
        &single,
        "jacoco-exec",
        &ExportOptions::default(),
        &out,
    )
    .unwrap();
    assert_eq!(jacoco_read(&cp, &[&out]).unwrap(), theirs);
    assert_eq!(
        export_bytes(
            &View::default(),
            &single,
            "jacoco-exec",
            &ExportOptions::default()
        )
        .unwrap(),
        std::fs::read(&out).unwrap()
    );
}
