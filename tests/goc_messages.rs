//! Messages that blame the right party (issue #12): a proxy's 407 names the proxy and what to
//! set, not the goc server; a real goc v2 server that lists no agents at all says so instead of
//! "no replica answered".

mod common;
mod real_goc;

use axum::http::StatusCode;
use std::process::Command;

fn config_for(dir: &std::path::Path, kind: &str, url: &str) -> std::path::PathBuf {
    let repo = dir.join("repo");
    common::sample_repo(&repo);
    let config = dir.join("covtop.toml");
    std::fs::write(
        &config,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"main\"\n[poll]\ntimeout = \"5s\"\n\
             [session]\ndir = \"{}\"\n\
             [[target]]\nname = \"shop\"\nkind = \"{kind}\"\nurl = \"{url}\"\n",
            repo.display(),
            dir.join("s").display(),
        ),
    )
    .unwrap();
    config
}

fn covtop(config: &std::path::Path, proxy: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_covtop"));
    cmd.arg("--config").arg(config).arg("dump");
    for v in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        cmd.env_remove(v);
    }
    if let Some(p) = proxy {
        cmd.env("HTTP_PROXY", p);
    }
    let out = cmd.output().expect("covtop runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxys_407_names_the_proxy_and_what_to_set() {
    if !common::have_tool("git", "--version") {
        assert!(!common::in_ci(), "git is needed");
        return;
    }
    // A proxy that wants credentials covtop was not given.
    let app = axum::Router::new().fallback(|| async {
        (
            StatusCode::PROXY_AUTHENTICATION_REQUIRED,
            [("proxy-authenticate", "Basic realm=\"corp\"")],
            "",
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let tmp = tempfile::tempdir().unwrap();
    let config = config_for(tmp.path(), "goc", "http://goc.example.invalid:7777");
    let (ok, text) = tokio::task::spawn_blocking(move || covtop(&config, Some(&proxy)))
        .await
        .unwrap();
    assert!(!ok, "{text}");
    assert!(
        text.contains("the HTTP proxy between covtop and goc answered 407")
            && text.contains("HTTP_PROXY")
            && text.contains("NO_PROXY"),
        "{text}"
    );
    assert!(!text.contains("is this a goc server"), "{text}");
}

#[test]
fn a_goc_v2_server_without_agents_says_so() {
    if real_goc::tools().is_none() {
        assert!(!common::in_ci(), "the real goc is needed");
        return;
    }
    let server = real_goc::V2Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = config_for(tmp.path(), "goc-v2", &server.url);
    let (ok, text) = covtop(&config, None);
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!("{} lists no agents", server.url)),
        "{text}"
    );
    assert!(
        text.contains("the server of shop lists no agents"),
        "{text}"
    );
    assert!(!text.contains("no replica of shop answered"), "{text}");
}
