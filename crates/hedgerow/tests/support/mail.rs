//! A real mail server for tests that send email: Debian's aiosmtpd, delivering into a Maildir
//! the test reads.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{Running, free_port, wait_for};

/// A Python that has aiosmtpd: Debian's own first, since a pyenv shim on PATH may not see it.
pub fn python_with_aiosmtpd() -> Option<&'static str> {
    let found = ["/usr/bin/python3", "python3"].into_iter().find(|python| {
        Command::new(python)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("HEDGEROW_REQUIRE_SMTP").is_none(),
            "HEDGEROW_REQUIRE_SMTP is set but python3-aiosmtpd is not installed; run scripts/test-env.sh"
        );
        eprintln!("skipping: python3-aiosmtpd is not installed (apt-get install python3-aiosmtpd)");
    }
    found
}

/// aiosmtpd delivering into a Maildir.
pub struct MailServer {
    _process: Running,
    pub port: u16,
    maildir: PathBuf,
}

impl MailServer {
    pub fn start(python: &str, dir: &Path) -> MailServer {
        let port = free_port();
        let maildir = dir.join("mail");
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let process = Running {
            child,
            name: "aiosmtpd",
        };
        wait_for(
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
            "aiosmtpd",
        );
        MailServer {
            _process: process,
            port,
            maildir,
        }
    }

    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .collect()
    }
}
