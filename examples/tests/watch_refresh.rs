//! The `watch-refresh` example offline: its watch lives through three
//! token expiries, one fresh token per connection.

use std::process::Command;

#[test]
fn lives_through_three_token_expiries() {
    let home = std::env::temp_dir().join(format!("watch-refresh-home-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_watch-refresh"))
        .env_clear()
        .env("HOME", &home)
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.matches("tunnel(s) live").count(), 4, "{stdout}");
    assert!(
        stdout.contains("lived through 3 token expiries with 4 tokens"),
        "{stdout}"
    );
}
