//! covtop against the REAL goc v1.4.5 and v2 (`tests/real_goc`): the data covtop stores and
//! exports must be the data goc itself gives, never counted twice, never merged across builds.

mod common;
mod real_goc;

use real_goc::{
    Build, CalcRepo, Replica, Source, Target, V1Center, dump, go_func_total, go_profile,
    json_report, parse_profile, percent, whole_statements,
};

fn v1_build(src: Source, center: &V1Center) -> Build {
    Build::V1 {
        src,
        center: center.port,
        agent: real_goc::free_port(),
    }
}

/// True when `stderr` names `replica` in a sentence saying it runs another build.
fn names_other_build(stderr: &str, replica: &str) -> bool {
    stderr.lines().any(|l| {
        let l_low = l.to_lowercase();
        l.contains(replica)
            && (l_low.contains("another build")
                || l_low.contains("other build")
                || l_low.contains("not merged"))
    })
}

/// Scenario 1: two replicas of one build under one service; covtop's merged export equals goc's
/// merged `goc profile`, block by block, and its statements equal `go tool cover -func`.
#[test]
fn v1_two_replicas_of_one_build_equal_gocs_merged_profile() {
    if real_goc::tools().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = CalcRepo::create(&tmp.path().join("repo"));
    let center = V1Center::start();
    let a = Replica::start_v1(&center, &v1_build(Source::V2, &center), "calc");
    let b = Replica::start_v1(&center, &v1_build(Source::V2, &center), "calc");
    a.classify(-1, 3);
    a.classify(5, 2);
    a.fee(5000, 1);
    b.classify(0, 4);
    b.fee(10, 2);
    b.fee(-3, 1);
    b.fee(999_999, 1);

    // goc's own answers: the CLI's merged profile, and the same through HTTP.
    let cli = center.cli_profile(&["--service", "calc"]);
    assert!(cli.status.success(), "goc profile: {cli:?}");
    let goc_text = String::from_utf8_lossy(&cli.stdout).into_owned();
    let goc = parse_profile(&goc_text);
    let (status, http_text) = center.merged_profile(&["calc"]);
    assert_eq!(status, 200, "{http_text}");
    assert_eq!(parse_profile(&http_text), goc);
    // goc's merge is the block-by-block sum of the two agents' own profiles.
    let mut sum = parse_profile(&a.agent_profile());
    sum.add(&parse_profile(&b.agent_profile()));
    assert_eq!(sum.blocks, goc.blocks);
    // Classify ran 3 + 2 + 4 times.
    assert_eq!(goc.count_at("calc/calc.go", 5), Some(9), "{goc_text}");

    let config = real_goc::write_config(
        tmp.path(),
        &repo.dir,
        &repo.v2,
        &[Target::V1 {
            name: "calc",
            url: &center.url,
            services: &["calc"],
        }],
    );
    let d = dump(&config);
    for r in [&a, &b] {
        let u = r.agent_url.as_deref().unwrap();
        assert!(d.stdout.contains(u) || d.stderr.contains(u), "{d:?}");
    }
    let ours_text = go_profile(&config);
    let ours = parse_profile(&ours_text);
    assert_eq!(ours.mode, goc.mode);
    assert_eq!(
        ours.blocks, goc.blocks,
        "covtop's go-profile:\n{ours_text}\ngoc's:\n{goc_text}"
    );
    assert!(ours.overlaps().is_empty(), "{ours_text}");

    let report = json_report(&config);
    let st = whole_statements(&report);
    assert_eq!(st, goc.statements());
    assert_eq!(percent(st), go_func_total(&goc_text, &repo.dir));
}

/// Scenario 2: a rolling deploy, an old build (v1 source) and a new one (v2 source) under ONE
/// service name. goc's merged profile fails; covtop must not merge the builds: its export holds
/// the new build's blocks only, and dump, report and check name the old replica.
#[test]
fn v1_rolling_deploy_does_not_merge_two_builds() {
    if real_goc::tools().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = CalcRepo::create(&tmp.path().join("repo"));
    let center = V1Center::start();
    let old = Replica::start_v1(&center, &v1_build(Source::V1, &center), "calc");
    let new = Replica::start_v1(&center, &v1_build(Source::V2, &center), "calc");
    old.classify(-1, 2);
    old.fee(5000, 3);
    new.classify(0, 1);
    new.fee(5000, 2);
    new.fee(0, 1);

    // goc: the merge of two builds fails with 500 (the block counts of calc.go differ).
    let (status, body) = center.merged_profile(&["calc"]);
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("calc/calc.go") && body.contains("mismatch"),
        "{body}"
    );
    let cli = center.cli_profile(&["--service", "calc"]);
    assert!(
        !cli.status.success(),
        "goc profile merged two builds: {cli:?}"
    );

    let new_text = new.agent_profile();
    let new_profile = parse_profile(&new_text);
    let old_url = old.agent_url.clone().unwrap();

    let config = real_goc::write_config(
        tmp.path(),
        &repo.dir,
        &repo.v2,
        &[Target::V1 {
            name: "calc",
            url: &center.url,
            services: &["calc"],
        }],
    );
    let d = dump(&config);
    let ours_text = go_profile(&config);
    let ours = parse_profile(&ours_text);
    let report = json_report(&config);
    let rep = real_goc::covtop(&config, &["report", "--offline"]);
    let check = real_goc::covtop(&config, &["check", "--fail-under", "1", "--offline"]);

    // Every expectation is checked, and all that fail are reported together.
    let mut problems = Vec::new();
    // The export: one build's blocks, no overlapping ranges, equal to the new replica's own.
    if !ours.overlaps().is_empty() {
        problems.push(format!(
            "covtop's go-profile merges two builds: overlapping blocks {:?}",
            ours.overlaps()
        ));
    }
    if ours.blocks != new_profile.blocks {
        problems.push(format!(
            "covtop's go-profile is not the new build's profile:\n{ours_text}\nthe new build's agent:\n{new_text}"
        ));
    }
    let st = whole_statements(&report);
    if st != new_profile.statements() {
        problems.push(format!(
            "covtop's whole statements are {st:?}, the new build's {:?}",
            new_profile.statements()
        ));
    }
    // The old build is named on stderr, in a sentence.
    for (what, run) in [("dump", &d), ("report", &rep), ("check", &check)] {
        if !names_other_build(&run.stderr, &old_url) {
            problems.push(format!(
                "covtop {what} does not say that {old_url} runs another build: {run:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
