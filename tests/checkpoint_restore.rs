//! Checkpoints on real data: a session of real Go coverage (`go test -covermode=count` profiles
//! of the sample module) and a real JaCoCo agent capture, with restarts (new instances, counters
//! going down), reset markers, an older build and late dumps, before and after the checkpoint.
//! Restoring the checkpoint and replaying the dumps after it gives the same View, the same
//! accumulated data and the same "unchanged dump" decision as replaying every dump; with the
//! raw dumps the checkpoint holds dropped, still the same. A damaged or newer checkpoint is set
//! aside with a diagnostic and the session replayed whole.

mod common;
mod pg_support;

use covtop::agent::{Payload, PollResult, ReplicaDump};
use covtop::engine::Engine;
use covtop::engine::checkpoint::Checkpointer;
use covtop::java::exec::ExecData;
use covtop::session::{DumpMeta, DumpStore, PayloadKind, SessionStore};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

struct Fixture {
    _tmp: tempfile::TempDir,
    config: PathBuf,
    store: PathBuf,
    revision: String,
    older: String,
    /// Real profiles: all tests, the cart tests, the pricing tests.
    profiles: Vec<String>,
    exec: ExecData,
}

/// The fixture with dumps `0..dumps` stored; `None` (the test skips) without Go, except under
/// `CI=true`.
fn session_of(dumps: u64) -> Option<Fixture> {
    if !common::have_tool("go", "version") {
        return None;
    }
    let f = fixture();
    store_dumps(&f, 0, dumps);
    Some(f)
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    let profiles = vec![
        common::go_test_profile(&repo, tmp.path()),
        common::go_test_profile_of(&repo, tmp.path(), Some("Cart")),
        common::go_test_profile_of(&repo, tmp.path(), Some("Pric|Apply")),
    ];
    let exec_file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/javasample/recorded/dump1.exec");
    let exec = covtop::java::exec::parse(&std::fs::read(exec_file).unwrap(), "dump1.exec").unwrap();
    assert!(exec.classes.len() >= 2, "a real capture with classes");
    let store = tmp.path().join("store");
    let config = tmp.path().join("covtop.toml");
    std::fs::write(
        &config,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"main\"\n[session]\ndir = \"{}\"\n\
             [[target]]\nname = \"api\"\nkind = \"goc\"\nurl = \"http://127.0.0.1:9\"\n\
             [[target]]\nname = \"worker\"\nkind = \"goc\"\nurl = \"http://127.0.0.1:9\"\n\
             [[target]]\nname = \"jvm\"\nkind = \"jacoco\"\naddress = \"127.0.0.1:9\"\n",
            repo.display(),
            store.display()
        ),
    )
    .unwrap();
    Fixture {
        revision: common::rev_parse(&repo, "HEAD"),
        older: common::rev_parse(&repo, "main"),
        _tmp: tmp,
        config,
        store,
        profiles,
        exec,
    }
}

/// `profile` with every count multiplied by `factor` (0 keeps the blocks, none ran).
fn scaled(profile: &str, factor: u64) -> Vec<u8> {
    let mut out = String::new();
    for (i, line) in profile.lines().enumerate() {
        match line.rsplit_once(' ') {
            Some((block, count)) if i > 0 => {
                let n: u64 = count.parse().unwrap();
                out.push_str(&format!("{block} {}\n", n * factor));
            }
            _ => out.push_str(&format!("{line}\n")),
        }
    }
    out.into_bytes()
}

/// The capture with only the probes of every `keep`-th class kept (`keep` 1: all of them).
fn exec_part(exec: &ExecData, keep: usize, offset: usize) -> Vec<u8> {
    let mut e = exec.clone();
    for (i, c) in e.classes.values_mut().enumerate() {
        if !(i + offset).is_multiple_of(keep) {
            c.probes.clear_all();
        }
    }
    // Unhit classes are left out of an exec file, as the agent does.
    e.to_bytes().unwrap()
}

/// Stores dumps `from..to` of the scripted session: Go replicas growing, restarting (new
/// instance, counters lower) and reset; one replica on an older build; a late dump; JaCoCo
/// replicas with probes growing and a reset.
fn store_dumps(f: &Fixture, from: u64, to: u64) {
    store_dumps_into(
        &mut SessionStore::open(&f.store, "default").unwrap(),
        f,
        from,
        to,
    );
}

/// [`store_dumps`] into any store.
fn store_dumps_into(store: &mut dyn DumpStore, f: &Fixture, from: u64, to: u64) {
    let t0 = 1_800_000_000_000u64;
    for n in from..to {
        let at = t0 + n * 2_000;
        let target = if n % 2 == 0 { "api" } else { "worker" };
        let r = n % 3;
        let replica = format!("http://10.0.0.{r}:7777");
        // Restarts (a new instance) mostly with counters growing: only the instance tells.
        let restart = n / 10;
        let mut meta = DumpMeta::new(
            target,
            &replica,
            Some(format!("pid-{r}-{restart}")),
            at,
            &f.revision,
            PayloadKind::GoProfile,
        );
        meta.requested_at_ms = Some(at - 100);
        let profile = &f.profiles[(n % 3) as usize];
        store.append(&meta, &scaled(profile, 1 + n % 17)).unwrap();
        if n % 11 == 10 {
            store
                .append_reset(
                    target,
                    &replica,
                    &f.revision,
                    PayloadKind::GoProfile,
                    at + 1,
                )
                .unwrap();
        }
        if n % 13 == 5 {
            // A replica of the older build (its agent names the revision).
            let mut old = meta.clone();
            old.replica = "http://10.0.0.9:7777".into();
            old.revision = f.older.clone();
            old.instance = Some(format!("old-{}", n / 26));
            store.append(&old, &scaled(&f.profiles[1], n)).unwrap();
        }
        if n % 19 == 7 {
            // A late dump: requested before the newest one of its replica.
            let mut late = meta.clone();
            late.requested_at_ms = Some(at - 5_000);
            late.fetched_at_ms = at + 50;
            store.append(&late, &scaled(profile, n % 17)).unwrap();
        }
        let jvm = format!("10.0.1.{}:6300", n % 2);
        let mut jm = DumpMeta::new(
            "jvm",
            &jvm,
            Some(format!("jvm-{}", n / 23)),
            at,
            &f.revision,
            PayloadKind::JacocoExec,
        );
        jm.requested_at_ms = Some(at - 100);
        store
            .append(&jm, &exec_part(&f.exec, 1 + (n % 4) as usize, n as usize))
            .unwrap();
        if n % 29 == 28 {
            store
                .append_reset("jvm", &jvm, &f.revision, PayloadKind::JacocoExec, at + 1)
                .unwrap();
        }
    }
}

/// What a session opens to: the View (as JSON, generation aside), the merged Go profile and the
/// JaCoCo data per target.
fn opened(f: &Fixture) -> (Engine, serde_json::Value, String) {
    let mut engine = Engine::open(covtop::config::load(&f.config).unwrap()).unwrap();
    let view = engine.view();
    let mut json = serde_json::to_value(&*view).unwrap();
    json["generation"] = 0.into();
    let data = format!(
        "{:?}\n{:?}",
        engine.go_total().map(|p| p.to_bytes()),
        engine
            .java_totals()
            .into_iter()
            .map(|(t, e)| (t, e.to_bytes().unwrap()))
            .collect::<Vec<_>>()
    );
    (engine, json, data)
}

/// The checkpoint of the session folded at the fixture's revision (one file per revision).
fn checkpoint_file(f: &Fixture) -> PathBuf {
    f.store
        .join(format!("sessions/default/checkpoint.{}", f.revision))
}

#[test]
fn a_restore_from_the_checkpoint_equals_a_full_replay() {
    let Some(f) = session_of(73) else { return };
    // A reset right before the checkpoint: the replica's next dump (same process, counters
    // growing) opens an epoch only because of it.
    SessionStore::open(&f.store, "default")
        .unwrap()
        .append_reset(
            "api",
            "http://10.0.0.0:7777",
            &f.revision,
            PayloadKind::GoProfile,
            1_800_000_000_000 + 72 * 2_000 + 500,
        )
        .unwrap();
    let (_, full_before, data_before) = opened(&f);
    assert!(
        full_before["totals"]["whole"]["covered"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "the real profiles cover lines: {}",
        full_before["totals"]
    );

    // Fold, then more dumps after the checkpoint (restarts, resets and late dumps that continue
    // epochs the checkpoint holds).
    let cfg = covtop::config::load(&f.config).unwrap();
    let done = Checkpointer::open(&cfg).unwrap().fold(true).unwrap();
    assert!(done.bytes > 0 && done.upto > 100, "{done:?}");
    assert!(done.notes.is_empty(), "{:?}", done.notes);
    // Restored with nothing after it: the same as before.
    let (_, restored, data) = opened(&f);
    assert_eq!(restored, full_before);
    assert_eq!(data, data_before);

    store_dumps(&f, 73, 120);
    let (mut from_checkpoint, restored, data_restored) = opened(&f);
    let saved = std::fs::read(checkpoint_file(&f)).unwrap();
    std::fs::remove_file(checkpoint_file(&f)).unwrap();
    let (mut replayed, full, data_full) = opened(&f);
    assert_eq!(restored, full, "checkpoint + tail = full replay (View)");
    assert_eq!(
        data_restored, data_full,
        "checkpoint + tail = full replay (data)"
    );
    assert_ne!(data_full, data_before, "the tail changed the data");

    // An unchanged dump is not stored again after a restore either: the checkpoint keeps each
    // replica's last stored dump.
    let last = last_dump_of(&f, "api", "http://10.0.0.0:7777");
    for engine in [&mut from_checkpoint, &mut replayed] {
        let i = engine.target_index_of("api").unwrap();
        let poll = engine
            .apply_poll(
                i,
                PollResult {
                    dumps: vec![ReplicaDump {
                        replica: last.meta.replica.clone(),
                        instance: last.meta.instance.clone(),
                        extra: None,
                        fetched_at: UNIX_EPOCH + Duration::from_millis(1_900_000_000_000),
                        elapsed: Duration::from_millis(1),
                        payload: Payload::GoProfile(last.payload.clone()),
                    }],
                    failures: Vec::new(),
                },
            )
            .unwrap();
        assert_eq!(poll.unchanged, 1, "{poll:?}");
    }

    // With the raw dumps the checkpoint holds dropped, the session still opens to the same.
    std::fs::write(checkpoint_file(&f), &saved).unwrap();
    let mut store = SessionStore::open(&f.store, "default").unwrap();
    let dropped = store.drop_raw(done.upto, u64::MAX).unwrap();
    assert!(dropped.dumps > 100, "{dropped:?}");
    let (first, _) = store.load_all().unwrap();
    assert!(first.iter().all(|d| d.meta.seq > done.upto));
    let (_, compacted, data_compacted) = opened(&f);
    // The two polls above were stored nowhere (unchanged), so nothing moved.
    assert_eq!(compacted, full, "restored without the raw dumps it folds");
    assert_eq!(data_compacted, data_full);
}

fn last_dump_of(f: &Fixture, target: &str, replica: &str) -> covtop::session::StoredDump {
    let store = SessionStore::open(&f.store, "default").unwrap();
    let (dumps, _) = store.load_all().unwrap();
    dumps
        .into_iter()
        .rfind(|d| d.meta.target == target && d.meta.replica == replica)
        .inspect(|d| assert!(!d.meta.reset_after))
        .unwrap()
}

#[test]
fn a_damaged_or_newer_checkpoint_is_set_aside_and_the_session_replayed() {
    let Some(f) = session_of(30) else { return };
    let (_, full, data_full) = opened(&f);
    let cfg = covtop::config::load(&f.config).unwrap();
    Checkpointer::open(&cfg).unwrap().fold(true).unwrap();
    let good = std::fs::read(checkpoint_file(&f)).unwrap();
    let header_end = good.iter().position(|&b| b == b'\n').unwrap() + 1;

    let mut damaged = good.clone();
    let mid = header_end + (good.len() - header_end) * 2 / 3;
    damaged[mid] ^= 0x55;
    let mut newer = good.clone();
    let format_at = header_end + "COVTOP-CHECKPOINT\n".len();
    newer[format_at..format_at + 4].copy_from_slice(&999u32.to_le_bytes());
    let truncated = good[..good.len() / 2].to_vec();

    for (what, bytes, says) in [
        ("damaged", damaged, "CRC-32"),
        ("newer", newer, "format 999, newer"),
        ("truncated", truncated, "damaged"),
    ] {
        std::fs::write(checkpoint_file(&f), &bytes).unwrap();
        let (engine, mut view, data) = opened(&f);
        let notes: Vec<String> = engine
            .session_problems()
            .iter()
            .map(|d| format!("{}: {}", d.subject, d.message))
            .collect();
        assert!(
            notes
                .iter()
                .any(|n| n.contains("checkpoint not used") && n.contains(says)),
            "{what}: {notes:?}"
        );
        assert!(!checkpoint_file(&f).exists(), "{what}: set aside");
        let aside = f.store.join("sessions/default/quarantine");
        assert!(
            std::fs::read_dir(&aside).unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("checkpoint")),
            "{what}: in quarantine"
        );
        assert_eq!(data, data_full, "{what}: replayed whole");
        // The View says so (a diagnostic) and is otherwise the full replay's.
        view["diagnostics"] = full["diagnostics"].clone();
        assert_eq!(view, full, "{what}");
    }
}

#[test]
fn opened_at_another_revision_the_dumps_only_a_checkpoint_holds_are_named_and_kept() {
    let Some(f) = session_of(20) else { return };
    let cfg = covtop::config::load(&f.config).unwrap();
    let mut checkpointer = Checkpointer::open(&cfg).unwrap();
    let done = checkpointer.fold(true).unwrap();
    checkpointer.drop_raw(u64::MAX).unwrap();
    store_dumps(&f, 20, 25);
    let kept = std::fs::read(checkpoint_file(&f)).unwrap();

    // The same session opened at `main`: the checkpoint is HEAD's, the dumps it holds are gone.
    let text = std::fs::read_to_string(&f.config).unwrap();
    std::fs::write(
        &f.config,
        text.replace("base = \"main\"", "base = \"main\"\nrevision = \"main\""),
    )
    .unwrap();
    let engine = Engine::open(covtop::config::load(&f.config).unwrap()).unwrap();
    let notes: Vec<String> = engine
        .session_problems()
        .iter()
        .map(|d| format!("{} ({})", d.message, d.fix))
        .collect();
    let want = format!(
        "dumps #1..#{} were compacted into a checkpoint folded at revision {}",
        done.upto, f.revision
    );
    assert!(notes.iter().any(|n| n.contains(&want)), "{notes:?}");
    // Its checkpointer writes none that would hide that those dumps are missing, and the
    // other revision's stays whole.
    let cfg = covtop::config::load(&f.config).unwrap();
    let e = Checkpointer::open(&cfg)
        .unwrap()
        .fold(true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not written"), "{e}");
    assert_eq!(std::fs::read(checkpoint_file(&f)).unwrap(), kept);
}

/// Issue #11: covtops opened at two revisions on one session (a redeploy, a tester on another
/// build) each keep their own checkpoint: neither replaces the other's, and each restores
/// from its own and folds only the dumps after it.
#[test]
fn two_revisions_on_one_session_keep_a_checkpoint_each() {
    let Some(f) = session_of(20) else { return };
    let at_head = covtop::config::load(&f.config).unwrap();
    let head = Checkpointer::open(&at_head).unwrap().fold(true).unwrap();
    assert!(head.bytes > 0, "{head:?}");
    let head_file = checkpoint_file(&f);
    let head_bytes = std::fs::read(&head_file).unwrap();
    let text = std::fs::read_to_string(&f.config).unwrap();
    std::fs::write(
        &f.config,
        text.replace("base = \"main\"", "base = \"main\"\nrevision = \"main\""),
    )
    .unwrap();
    let at_main = covtop::config::load(&f.config).unwrap();
    let main = Checkpointer::open(&at_main).unwrap().fold(true).unwrap();
    assert_eq!(main.upto, head.upto);
    assert_eq!(
        main.read, head.read,
        "folded from the dumps: HEAD's is not main's"
    );
    let files: Vec<PathBuf> = std::fs::read_dir(f.store.join("sessions/default"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("checkpoint.")
        })
        .collect();
    assert_eq!(files.len(), 2, "one checkpoint per revision: {files:?}");
    let main_file = files.into_iter().find(|p| *p != head_file).unwrap();
    assert_eq!(
        std::fs::read(&head_file).unwrap(),
        head_bytes,
        "HEAD's stays"
    );
    // Each restores from its own: nothing to read again.
    store_dumps(&f, 20, 22);
    for cfg in [&at_head, &at_main] {
        let again = Checkpointer::open(cfg).unwrap().fold(true).unwrap();
        assert!(again.upto > head.upto);
        assert_eq!(
            again.read as u64,
            again.upto - head.upto,
            "only the dumps after its checkpoint: {again:?}"
        );
        assert!(again.notes.is_empty(), "{:?}", again.notes);
    }
    // And a View opened at either revision is the one a full replay gives.
    for rev in ["main", "HEAD"] {
        let text = std::fs::read_to_string(&f.config).unwrap();
        let text = text.replace("revision = \"main\"\n", "");
        let text = if rev == "main" {
            text.replace("base = \"main\"", "base = \"main\"\nrevision = \"main\"")
        } else {
            text
        };
        std::fs::write(&f.config, text).unwrap();
        let (_, restored, _) = opened(&f);
        let own = if rev == "main" {
            &main_file
        } else {
            &head_file
        };
        let saved = std::fs::read(own).unwrap();
        std::fs::remove_file(own).unwrap();
        let (_, full, _) = opened(&f);
        std::fs::write(own, saved).unwrap();
        assert_eq!(restored, full, "{rev}: checkpoint + tail = full replay");
    }
}

#[test]
fn the_background_checkpointer_folds_while_the_engine_runs() {
    // More than `EVERY_DUMPS` (500) stored dumps and markers: a checkpoint is due at once.
    let Some(f) = session_of(240) else { return };
    let (dumps, _) = SessionStore::open(&f.store, "default")
        .unwrap()
        .load_all()
        .unwrap();
    let last = dumps.last().unwrap().meta.seq;
    assert!(last >= covtop::engine::checkpoint::EVERY_DUMPS, "{last}");
    let mut engine = Engine::open(covtop::config::load(&f.config).unwrap()).unwrap();
    let background = engine.start_checkpoints().expect("the checkpointer starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !checkpoint_file(&f).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint written in the background"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let c = SessionStore::open(&f.store, "default")
        .unwrap()
        .read_checkpoint(&f.revision)
        .unwrap()
        .unwrap();
    assert_eq!(c.upto, last, "every stored dump folded");
    assert!(
        !engine
            .view()
            .diagnostics
            .iter()
            .any(|d| d.message.contains("checkpoint")),
        "a clean fold leaves no diagnostic"
    );
    // A checkpoint it cannot write (a folder stands where it goes) is a diagnostic of the next
    // View, and nothing else fails.
    std::fs::remove_file(checkpoint_file(&f)).unwrap();
    std::fs::create_dir(checkpoint_file(&f)).unwrap();
    store_dumps(&f, 240, 480);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !engine
        .view()
        .diagnostics
        .iter()
        .any(|d| d.message.contains("background checkpoint"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the failed checkpoint is named in the View"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    background.stop();
}

#[test]
fn on_postgres_too_checkpoint_and_tail_restore_what_a_full_replay_does() {
    let Some(cluster) = pg_support::PgCluster::start() else {
        return;
    };
    if !common::have_tool("go", "version") {
        return;
    }
    let f = fixture();
    cluster.create_db("checkpoints");
    let password_file = f.store.with_file_name("pgpassword");
    std::fs::write(&password_file, format!("{}\n", pg_support::PASSWORD)).unwrap();
    let url = cluster.url("checkpoints");
    let text = std::fs::read_to_string(&f.config).unwrap();
    std::fs::write(
        &f.config,
        text.replace(
            "[session]\n",
            &format!(
                "[session]\nstore = \"{url}\"\npassword_file = \"{}\"\n",
                password_file.display()
            ),
        ),
    )
    .unwrap();
    let open = || {
        covtop::session::postgres::PgStore::open(
            covtop::session::postgres::PgTarget::new(&url, Some(&password_file)).unwrap(),
            "default",
            &f.store.join("local"),
        )
        .unwrap()
    };
    store_dumps_into(&mut open(), &f, 0, 60);
    let cfg = covtop::config::load(&f.config).unwrap();
    let done = Checkpointer::open(&cfg).unwrap().fold(true).unwrap();
    assert!(done.bytes > 0 && done.upto > 60, "{done:?}");
    store_dumps_into(&mut open(), &f, 60, 100);
    let (_, restored, data_restored) = opened(&f);
    let c = open().read_checkpoint(&f.revision).unwrap().unwrap();
    assert_eq!(c.upto, done.upto);
    open()
        .set_checkpoint_aside(&c.slot, "compared with a full replay")
        .unwrap();
    let (_, full, data_full) = opened(&f);
    assert_eq!(restored, full, "checkpoint + tail = full replay (View)");
    assert_eq!(
        data_restored, data_full,
        "checkpoint + tail = full replay (data)"
    );
    // Folded raw dumps dropped: still the same.
    let mut checkpointer = Checkpointer::open(&cfg).unwrap();
    let again = checkpointer.fold(true).unwrap();
    let dropped = checkpointer.drop_raw(u64::MAX).unwrap();
    assert!(
        dropped.dumps as u64 >= again.upto - 5,
        "{dropped:?} of {again:?}"
    );
    let (_, compacted, data_compacted) = opened(&f);
    assert_eq!(compacted, full);
    assert_eq!(data_compacted, data_full);
}
