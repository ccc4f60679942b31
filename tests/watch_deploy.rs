//! The deployment files of docs/kubernetes.md: the Kubernetes manifests parse (PyYAML), their
//! covtop.toml is a valid configuration, every token comes from a Secret, pods run as non-root,
//! and the Containerfile builds in two stages, runs as non-root and holds no credentials.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// Every YAML document of `file`, as JSON, through PyYAML's safe loader.
fn yaml_documents(file: &Path) -> Vec<Value> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml\n\
             docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]\n\
             print(json.dumps(docs))",
        ])
        .arg(file)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{} does not parse: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    match serde_json::from_slice(&out.stdout).unwrap() {
        Value::Array(docs) => docs,
        other => panic!("{other}"),
    }
}

/// Every object reachable from `v` (depth first).
fn objects(v: &Value) -> Vec<&serde_json::Map<String, Value>> {
    let mut out = Vec::new();
    match v {
        Value::Object(m) => {
            out.push(m);
            for x in m.values() {
                out.extend(objects(x));
            }
        }
        Value::Array(a) => {
            for x in a {
                out.extend(objects(x));
            }
        }
        _ => {}
    }
    out
}

#[test]
fn kubernetes_manifests_parse_and_keep_secrets_out() {
    if !common::have_tool("python3", "--version") {
        return;
    }
    let yaml_ok = Command::new("python3")
        .args(["-c", "import yaml"])
        .status()
        .is_ok_and(|s| s.success());
    if !yaml_ok {
        assert!(
            !common::in_ci(),
            "PyYAML (python3-yaml) is required under CI=true"
        );
        eprintln!("skipping: PyYAML is missing");
        return;
    }
    let mut kinds = Vec::new();
    let mut password_dirs: Vec<PathBuf> = Vec::new();
    let mut secret_mounts: Vec<PathBuf> = Vec::new();
    for name in ["sidecar.yaml", "cronjob.yaml", "team.yaml"] {
        let file = deploy().join("kubernetes").join(name);
        let docs = yaml_documents(&file);
        assert!(!docs.is_empty(), "{name}");
        let mut covtop_containers = 0;
        let mut compactions = 0;
        for doc in &docs {
            let kind = doc["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: {doc}"));
            kinds.push(kind.to_string());
            assert!(doc["apiVersion"].is_string(), "{name}: {kind}");
            assert!(doc["metadata"]["name"].is_string(), "{name}: {kind}");
            if kind == "ConfigMap" {
                let toml = doc["data"]["covtop.toml"].as_str().unwrap();
                let cfg = covtop::config::parse(toml, Path::new("/etc/covtop/covtop.toml"))
                    .unwrap_or_else(|e| panic!("{name}: covtop.toml: {e}"));
                assert!(!cfg.targets.is_empty(), "{name}");
                assert!(
                    cfg.session.dir.is_absolute(),
                    "{name}: the store must be on a volume"
                );
                if name == "team.yaml" {
                    // The team's session is in PostgreSQL, with the password in a file that a
                    // Secret volume provides (checked below), never in the URL.
                    let store = cfg.session.store.as_deref().expect("a shared store");
                    covtop::session::postgres::PgTarget::check_url(store)
                        .unwrap_or_else(|e| panic!("{name}: store {e}"));
                    let pw = cfg.session.password_file.clone().expect("password_file");
                    password_dirs.push(pw.parent().unwrap().to_path_buf());
                }
            }
            if kind == "Deployment" || kind == "CronJob" {
                secret_mounts.extend(secret_mount_paths(doc));
            }
            for o in objects(doc) {
                // Every token, password or secret comes from a Secret, never a literal.
                if let Some(env_name) = o.get("name").and_then(Value::as_str)
                    && (o.contains_key("value") || o.contains_key("valueFrom"))
                    && ["TOKEN", "PASSWORD", "SECRET"]
                        .iter()
                        .any(|w| env_name.to_ascii_uppercase().contains(w))
                {
                    assert!(
                        !o.contains_key("value") && o["valueFrom"]["secretKeyRef"].is_object(),
                        "{name}: {env_name} must come from a secretKeyRef"
                    );
                }
                // Pods run as non-root.
                if o.contains_key("containers") {
                    assert_eq!(
                        o["securityContext"]["runAsNonRoot"],
                        Value::Bool(true),
                        "{name}: pod spec without runAsNonRoot"
                    );
                }
                // The covtop container runs `covtop watch` with a grace period for its final round.
                if o.get("name").and_then(Value::as_str) == Some("covtop")
                    && o.contains_key("image")
                {
                    covtop_containers += 1;
                    assert_eq!(o["args"][0], "watch", "{name}");
                    covtop_accepts(name, &string_args(o));
                    assert_eq!(o["securityContext"]["readOnlyRootFilesystem"], true);
                }
                // A compaction step: `covtop session compact --keep-raw=…` with a window covtop
                // reads, on the volume of the session.
                if o.get("name").and_then(Value::as_str) == Some("compact")
                    && o.contains_key("image")
                {
                    compactions += 1;
                    let args = string_args(o);
                    assert_eq!(args[..2], ["session", "compact"], "{name}");
                    let keep = args
                        .iter()
                        .find_map(|a| a.strip_prefix("--keep-raw="))
                        .unwrap_or_else(|| panic!("{name}: compact without --keep-raw=: {args:?}"));
                    covtop::config::parse_duration(keep)
                        .unwrap_or_else(|e| panic!("{name}: --keep-raw={keep}: {e}"));
                    covtop_accepts(name, &args);
                    let mounts: Vec<&str> = o["volumeMounts"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|m| m["mountPath"].as_str())
                        .collect();
                    assert!(
                        mounts.contains(&"/covtop-data") && mounts.contains(&"/etc/covtop"),
                        "{name}: compact must see the session's volume and the configuration: {mounts:?}"
                    );
                }
            }
        }
        assert_eq!(covtop_containers, 1, "{name}");
        if name == "cronjob.yaml" {
            assert_eq!(compactions, 1, "{name}: the CronJob compacts its session");
        }
    }
    for k in ["Deployment", "CronJob", "Service", "PersistentVolumeClaim"] {
        assert!(kinds.iter().any(|x| x == k), "no {k}: {kinds:?}");
    }
    assert!(
        !password_dirs.is_empty(),
        "the team layout names a password_file"
    );
    for d in &password_dirs {
        assert!(
            secret_mounts.contains(d),
            "the database password folder {} is not a Secret volume: {secret_mounts:?}",
            d.display()
        );
    }
}

/// The `args` of a container.
fn string_args(container: &serde_json::Map<String, Value>) -> Vec<&str> {
    container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect()
}

/// Checks that the covtop binary takes `args` (with `--help`, so nothing runs).
fn covtop_accepts(file: &str, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_covtop"))
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{file}: covtop rejects {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Where the pod templates of `doc` mount volumes that come from a Secret.
fn secret_mount_paths(doc: &Value) -> Vec<PathBuf> {
    let mut secret_volumes = Vec::new();
    for o in objects(doc) {
        if let Some(Value::Array(volumes)) = o.get("volumes") {
            for v in volumes {
                if v["secret"]["secretName"].is_string() {
                    secret_volumes.push(v["name"].as_str().unwrap_or_default().to_string());
                }
            }
        }
    }
    objects(doc)
        .into_iter()
        .filter_map(|o| o.get("volumeMounts")?.as_array())
        .flatten()
        .filter(|m| {
            m["name"]
                .as_str()
                .is_some_and(|n| secret_volumes.iter().any(|s| s == n))
        })
        .filter_map(|m| m["mountPath"].as_str().map(PathBuf::from))
        .collect()
}

#[test]
fn containerfile_is_multi_stage_non_root_and_holds_no_credentials() {
    let text = std::fs::read_to_string(deploy().join("Containerfile")).unwrap();
    let instructions: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(
        instructions
            .iter()
            .filter(|l| l.starts_with("FROM "))
            .count(),
        2
    );
    let user = instructions
        .iter()
        .rev()
        .find(|l| l.starts_with("USER "))
        .expect("a USER instruction");
    assert!(!user.contains("root") && !user.contains(" 0"), "{user}");
    for l in &instructions {
        if l.starts_with("ENV ") || l.starts_with("ARG ") {
            let up = l.to_ascii_uppercase();
            assert!(
                !["TOKEN", "PASSWORD", "SECRET"]
                    .iter()
                    .any(|w| up.contains(w)),
                "credential in the image: {l}"
            );
        }
    }
    // Everything the build copies exists (a renamed folder would break the image build).
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for l in instructions
        .iter()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = l.split_whitespace().collect();
        for src in &parts[1..parts.len() - 1] {
            assert!(root.join(src).exists(), "COPY {src}: missing");
        }
    }
}
