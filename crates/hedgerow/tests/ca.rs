//! `hedgerow ca` as a network manager runs it: making the school CA, showing it, and refusing
//! to replace it by accident.

use std::path::Path;
use std::process::{Command, Output};

fn hedgerow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hedgerow"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn ca_init_makes_a_private_key_and_refuses_to_replace_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();

    let out = hedgerow(&[
        "ca",
        "init",
        "--data-dir",
        data_arg,
        "--school-name",
        "Oakfield Primary",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let key = data.join("ca/school-ca.key");
    let pem = data.join("ca/school-ca.pem");
    let der = data.join("ca/school-ca.der");
    for file in [&key, &pem, &der] {
        assert!(file.is_file(), "{} missing", file.display());
        assert!(stdout.contains(&file.display().to_string()), "{stdout}");
    }
    #[cfg(unix)]
    assert_eq!(mode(&key), 0o600);
    assert!(
        stdout.contains("Oakfield Primary Hedgerow inspection CA"),
        "{stdout}"
    );
    assert!(stdout.contains("SHA-256 fingerprint: "), "{stdout}");
    assert!(stdout.contains("docs/https-inspection.md"), "{stdout}");
    let key_before = std::fs::read(&key).unwrap();

    // A second init is refused and changes nothing.
    let out = hedgerow(&["ca", "init", "--data-dir", data_arg]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("already exists") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&key).unwrap(), key_before);

    // `show` prints the certificate alone on standard output.
    let out = hedgerow(&["ca", "show", "--data-dir", data_arg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), std::fs::read_to_string(&pem).unwrap());
    let fingerprint_line = stdout
        .lines()
        .find(|l| l.starts_with("SHA-256 fingerprint: "))
        .unwrap();
    assert!(
        text(&out.stderr).contains(fingerprint_line),
        "{}",
        text(&out.stderr)
    );

    // --force replaces it, still private.
    let out = hedgerow(&["ca", "init", "--data-dir", data_arg, "--force"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_ne!(std::fs::read(&key).unwrap(), key_before);
    #[cfg(unix)]
    assert_eq!(mode(&key), 0o600);
}

#[test]
fn ca_init_reads_the_data_directory_and_school_from_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("school.toml");
    std::fs::write(
        &config,
        r#"data_dir = "state"

[lists]
sources = []

[[school]]
slug = "oakfield"
name = "Oakfield Primary"

[school.groups.unknown]
kind = "unidentified"
default = "allow"
"#,
    )
    .unwrap();
    let out = hedgerow(&["ca", "init", "--config", config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key = dir.path().join("state/ca/school-ca.key");
    assert!(key.is_file());
    #[cfg(unix)]
    assert_eq!(mode(&key), 0o600);
    assert!(
        text(&out.stdout).contains("Oakfield Primary Hedgerow inspection CA"),
        "{}",
        text(&out.stdout)
    );

    // A key others can read is refused when loading, with the fix.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
        let out = hedgerow(&["ca", "show", "--config", config.to_str().unwrap()]);
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("chmod 600"),
            "{}",
            text(&out.stderr)
        );
    }

    // Nowhere to put it.
    let out = hedgerow(&["ca", "init"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--data-dir"),
        "{}",
        text(&out.stderr)
    );
}
