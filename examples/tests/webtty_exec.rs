//! The `webtty-exec` example offline: with no rstream configuration it runs
//! `uname -a` on a Rust WebTTY server through a local engine.

use std::process::Command;

#[test]
fn runs_uname_on_the_embedded_server() {
    let home = std::env::temp_dir().join(format!("webtty-exec-home-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_webtty-exec"))
        .env_clear()
        .env("HOME", &home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let uname = Command::new("uname")
        .arg("-a")
        .output()
        .expect("uname runs");
    let expected = String::from_utf8_lossy(&uname.stdout);
    assert!(stdout.contains(expected.trim()), "{stdout}");
    assert!(stdout.contains("exit code 0"), "{stdout}");
}

#[test]
fn passes_the_remote_exit_code_through() {
    let home = std::env::temp_dir().join(format!("webtty-exec-home2-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_webtty-exec"))
        .args(["--", "sh", "-c", "echo bye; exit 7"])
        .env_clear()
        .env("HOME", &home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(7), "{stdout}\n{stderr}");
    assert!(stdout.contains("bye\nexit code 7"), "{stdout}");
}
