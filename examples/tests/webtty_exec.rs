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

#[test]
fn webtty_exec_runs_a_command_on_webtty_agent() {
    use std::io::{BufRead, BufReader};
    let home = std::env::temp_dir().join(format!("webtty-agent-home-{}", std::process::id()));
    let mut agent = Command::new(env!("CARGO_BIN_EXE_webtty-agent"))
        .env_clear()
        .env("HOME", &home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the agent runs");
    // The agent prints how to reach it; take the arguments from there.
    let mut lines = BufReader::new(agent.stdout.take().expect("stdout")).lines();
    let args: Vec<String> = loop {
        let line = lines
            .next()
            .expect("the agent printed its address")
            .unwrap();
        if let Some(at) = line.find("--url ") {
            break line[at..]
                .trim_end_matches(')')
                .split_whitespace()
                .map(str::to_owned)
                .collect();
        }
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let args: Vec<&str> = args[..args.len() - 2]
        .iter()
        .copied()
        .chain(["echo", "from the agent"])
        .collect();
    let (output, stdout, stderr) = webtty_exec(&args, "webtty-exec-home3");
    let _ = agent.kill();
    let _ = agent.wait();
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("from the agent\nexit code 0"), "{stdout}");
}
