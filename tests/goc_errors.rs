//! GocError as users see it: each failure a goc client can meet, produced by a real socket
//! (nothing listening, a listener that never answers, canned HTTP answers), with a message that
//! names the URL.

use std::time::Duration;

use covtop::agent::Payload;
use covtop::agent::goc_v1::{GocError, GocV1Target};
use covtop::agent::goc_v2::GocV2Target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves canned answers by request path; a path mapped to None is never answered.
async fn canned(routes: Vec<(&'static str, Option<Vec<u8>>)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&head).into_owned();
            let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
            let path = path.split('?').next().unwrap_or_default().to_string();
            match routes.iter().find(|(p, _)| *p == path) {
                Some((_, Some(answer))) => {
                    let _ = sock.write_all(answer).await;
                    let _ = sock.shutdown().await;
                }
                Some((_, None)) => held.push(sock),
                None => {
                    let _ = sock
                        .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                        .await;
                }
            }
        }
    });
    url
}

fn http(status: &str, content_type: &str, body: &str) -> Option<Vec<u8>> {
    Some(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

fn v1(url: &str, timeout_ms: u64) -> GocV1Target {
    GocV1Target::new(url, vec![], vec![], Duration::from_millis(timeout_ms)).unwrap()
}

#[tokio::test]
async fn connection_refused_and_timeouts_name_the_url() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let err = v1(&dead, 1000).list().await.unwrap_err();
    assert!(matches!(err, GocError::Connect { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&format!("{dead}/v1/cover/list")),
        "{err}"
    );

    let hung = canned(vec![("/v1/cover/list", None)]).await;
    let err = v1(&hung, 300).list().await.unwrap_err();
    assert!(matches!(err, GocError::Timeout { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&hung) && err.to_string().contains("300ms"),
        "{err}"
    );
}

#[tokio::test]
async fn html_plain_text_and_broken_json_are_told_apart() {
    let url = canned(vec![
        (
            "/v1/cover/list",
            http(
                "200 OK",
                "text/html",
                "<html><body>Welcome to nginx</body></html>",
            ),
        ),
        (
            "/v2/agents",
            http("200 OK", "text/plain; charset=utf-8", "hello"),
        ),
    ])
    .await;
    let err = v1(&url, 1000).list().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("with HTML where JSON was expected"),
        "{err}"
    );
    assert!(err.to_string().contains("Welcome to nginx"), "{err}");
    let v2 = GocV2Target::new(&url, vec![], None, Duration::from_secs(1)).unwrap();
    let err = v2.agents().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("\"text/plain; charset=utf-8\" where JSON was expected"),
        "{err}"
    );

    let broken = canned(vec![(
        "/v1/cover/list",
        http(
            "200 OK",
            "application/json; charset=utf-8",
            "{\"demo\":\n [\"a\",}",
        ),
    )])
    .await;
    let err = v1(&broken, 1000).list().await.unwrap_err();
    match &err {
        GocError::BadJson { line, .. } => assert_eq!(*line, 2),
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains(&format!(
            "{broken}/v1/cover/list answered broken JSON at line 2"
        )),
        "{err}"
    );
}

#[tokio::test]
async fn goc_error_bodies_are_quoted() {
    let url = canned(vec![
        ("/v1/cover/list", http("200 OK", "application/json; charset=utf-8", r#"{"svc":["http://127.0.0.1:7779"]}"#)),
        (
            "/v1/cover/profile",
            http(
                "417 Expectation Failed",
                "application/json; charset=utf-8",
                r#"{"error":"failed to get profile from http://127.0.0.1:7779, service , error EOF"}"#,
            ),
        ),
        ("/v2/agents", http("200 OK", "application/json; charset=utf-8", r#"{"items":[{"id":"4","pid":"9","status":2}]}"#)),
        (
            "/v2/cover/profile",
            http("500 Internal Server Error", "application/json; charset=utf-8", r#"{"msg":"error merging a.go: mode for a.go mismatches (cover vs count)"}"#),
        ),
    ])
    .await;
    let poll = v1(&url, 1000).poll().await;
    assert_eq!(poll.failures.len(), 1);
    assert_eq!(poll.failures[0].replica, "http://127.0.0.1:7779");
    assert!(
        poll.failures[0].error.contains(
            "HTTP 417: \"failed to get profile from http://127.0.0.1:7779, service , error EOF\""
        ),
        "{}",
        poll.failures[0].error
    );
    let poll = GocV2Target::new(&url, vec![], None, Duration::from_secs(1))
        .unwrap()
        .poll()
        .await;
    // Replicas are processes: without a hostname, the pid names it.
    assert_eq!(poll.failures[0].replica, "pid=9");
    assert!(
        poll.failures[0]
            .error
            .contains("HTTP 500: \"error merging a.go"),
        "{}",
        poll.failures[0].error
    );
}

#[tokio::test]
async fn truncated_oversized_and_non_profile_bodies_are_refused() {
    let url = canned(vec![
        ("/v1/cover/list", Some(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"svc\":[".to_vec())),
        ("/v2/agents", Some(format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{", 64 << 20).into_bytes())),
    ])
    .await;
    let err = v1(&url, 1000).list().await.unwrap_err();
    assert!(matches!(err, GocError::Truncated { .. }), "{err:?}");
    let err = GocV2Target::new(&url, vec![], None, Duration::from_secs(1))
        .unwrap()
        .agents()
        .await
        .unwrap_err();
    assert!(
        matches!(err, GocError::TooLarge { limit, .. } if limit == 16 << 20),
        "{err:?}"
    );

    let odd = canned(vec![
        (
            "/v1/cover/list",
            http(
                "200 OK",
                "application/json",
                r#"{"svc":["http://10.0.0.1:1"]}"#,
            ),
        ),
        (
            "/v1/cover/profile",
            http("200 OK", "text/html", "<html>login</html>"),
        ),
    ])
    .await;
    let poll = v1(&odd, 1000).poll().await;
    assert!(
        poll.failures[0]
            .error
            .contains("where a Go cover profile (`mode: ...`) was expected"),
        "{}",
        poll.failures[0].error
    );
}

#[tokio::test]
async fn any_mode_is_accepted_and_bytes_are_untouched() {
    let profile = "mode: cover\nexample.com/demo/main.go:12.13,14.42 2 1\n";
    let wrapped = serde_json::json!({ "profile": profile }).to_string();
    let url = canned(vec![
        (
            "/v2/agents",
            http(
                "200 OK",
                "application/json; charset=utf-8",
                r#"{"items":[{"id":"1","pid":"5","status":6},{"id":"2","pid":"6","status":1}]}"#,
            ),
        ),
        (
            "/v2/cover/profile",
            http("200 OK", "application/json; charset=utf-8", &wrapped),
        ),
    ])
    .await;
    let poll = GocV2Target::new(&url, vec![], None, Duration::from_secs(1))
        .unwrap()
        .poll()
        .await;
    assert_eq!(poll.dumps.len(), 1);
    assert_eq!(
        poll.dumps[0].payload,
        Payload::GoProfile(profile.as_bytes().to_vec())
    );
    assert_eq!(poll.dumps[0].instance.as_deref(), Some("/5//"));
    assert_eq!(poll.failures[0].replica, "pid=6");
    assert!(poll.failures[0].error.starts_with("disconnected"));
}

#[test]
fn invalid_configuration_is_refused_up_front() {
    let err =
        GocV1Target::new("ftp://goc:7777", vec![], vec![], Duration::from_secs(1)).unwrap_err();
    assert!(err.to_string().contains("\"ftp://goc:7777\""), "{err}");
    let err = GocV1Target::new(
        "http://goc:7777",
        vec![],
        vec!["http://[::1".into()],
        Duration::from_secs(1),
    )
    .unwrap_err();
    assert!(matches!(err, GocError::InvalidUrl { .. }), "{err}");
    let err =
        GocV2Target::new("goc:7777", vec![], Some("(".into()), Duration::from_secs(1)).unwrap_err();
    assert!(matches!(err, GocError::InvalidFilter { .. }), "{err}");
    assert!(GocV2Target::new("goc:7777", vec![], None, Duration::from_secs(1)).is_ok());
}
