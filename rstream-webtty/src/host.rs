//! Facts about this machine a WebTTY server publishes as labels.

use crate::discovery::labels;

/// `(label, value)` for what is known: OS family, architecture, the
/// `/etc/os-release` fields, kernel release and host name.
pub(crate) fn facts() -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let family = match std::env::consts::OS {
        "linux" => Some("linux"),
        "macos" => Some("macos"),
        "windows" => Some("windows"),
        "netbsd" => Some("netbsd"),
        "openbsd" => Some("openbsd"),
        "freebsd" => Some("freebsd"),
        _ => None,
    };
    if let Some(family) = family {
        out.push((labels::OS_FAMILY, family.to_owned()));
    }
    out.push((labels::ARCH, std::env::consts::ARCH.to_owned()));
    if let Ok(text) = std::fs::read_to_string("/etc/os-release") {
        let release = os_release(&text);
        for (key, label) in [
            ("ID", labels::OS_ID),
            ("VERSION_ID", labels::OS_VERSION_ID),
            ("VERSION_CODENAME", labels::OS_VERSION_CODENAME),
            ("PRETTY_NAME", labels::OS_PRETTY_NAME),
        ] {
            if let Some((_, v)) = release.iter().find(|(k, _)| k == key) {
                if !v.is_empty() {
                    out.push((label, v.clone()));
                }
            }
        }
    }
    let first_line = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    if let Some(release) = first_line("/proc/sys/kernel/osrelease") {
        out.push((labels::KERNEL_RELEASE, release));
    }
    if let Some(host) = first_line("/proc/sys/kernel/hostname") {
        out.push((labels::HOSTNAME, host));
    }
    out
}

/// `KEY=value` lines of an os-release file, quotes removed.
fn os_release(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.starts_with('#') {
                return None;
            }
            let (k, v) = line.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            Some((k.trim().to_owned(), v.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_lines_are_read_without_quotes() {
        let parsed = os_release(
            "# comment\nID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME='Debian GNU/Linux 12'\nbad\n",
        );
        assert_eq!(
            parsed,
            [
                ("ID".to_owned(), "debian".to_owned()),
                ("VERSION_ID".to_owned(), "12".to_owned()),
                ("PRETTY_NAME".to_owned(), "Debian GNU/Linux 12".to_owned()),
            ]
        );
    }

    #[test]
    fn facts_name_the_architecture() {
        let facts = facts();
        assert!(
            facts
                .iter()
                .any(|(k, v)| *k == labels::ARCH && v == std::env::consts::ARCH)
        );
    }
}
