//! The `rstream-local-engine` binary: one JSON line, then it serves.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test]
async fn prints_one_json_line_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rstream-local-engine"))
        .args(["--token", "tok_bin"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let line = tokio::time::timeout(Duration::from_secs(30), line)
        .await
        .expect("a line within the hang guard")
        .unwrap()
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(info["token"], "tok_bin");
    let engine = info["engine"].as_str().unwrap();
    assert!(engine.starts_with("localhost:"));
    assert!(info["edge"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(
        info["api"]
            .as_str()
            .unwrap()
            .starts_with("https://localhost:")
    );
    let ca_file = info["ca_file"].as_str().unwrap();

    let client = rstream_core::Client::builder()
        .engine(engine)
        .token("tok_bin")
        .ca_file(ca_file)
        .build()
        .unwrap();
    let control = tokio::time::timeout(Duration::from_secs(30), client.connect())
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), control.close())
        .await
        .unwrap()
        .unwrap();
    // SIGTERM stops it cleanly: the CA file goes with it.
    #[cfg(unix)]
    {
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "{status:?}");
        assert!(
            !std::path::Path::new(ca_file).exists(),
            "the CA file was removed"
        );
    }
    #[cfg(not(unix))]
    {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn refuses_unknown_flags() {
    let status = Command::new(env!("CARGO_BIN_EXE_rstream-local-engine"))
        .arg("--bogus")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}
