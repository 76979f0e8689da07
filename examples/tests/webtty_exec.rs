//! The `webtty-exec` example offline: with no rstream configuration it runs
//! its command on a Rust WebTTY server through a local engine.

use std::process::{Command, Output};

/// Runs the example with `args`, in an empty environment (no rstream
/// configuration).
fn webtty_exec(args: &[&str], home: &str) -> (Output, String, String) {
    let home = std::env::temp_dir().join(format!("{home}-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_webtty-exec"))
        .args(args)
        .env_clear()
        .env("HOME", &home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

#[test]
fn runs_uname_on_the_embedded_server() {
    let (output, stdout, stderr) = webtty_exec(&[], "webtty-exec-home");
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
    let (output, stdout, stderr) =
        webtty_exec(&["--", "sh", "-c", "echo bye; exit 7"], "webtty-exec-home2");
    assert_eq!(output.status.code(), Some(7), "{stdout}\n{stderr}");
    assert!(stdout.contains("bye\nexit code 7"), "{stdout}");
}
