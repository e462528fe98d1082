//! The command line as a network manager meets it: configuration checks, explanations and the
//! index compiler, on real files.

mod support;

use std::path::{Path, PathBuf};

use support::admin::create_account_output;
use support::{hedgerow, repo};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn small_config(dir: &Path, lists: &Path) -> PathBuf {
    let path = dir.join("school.toml");
    std::fs::write(
        &path,
        format!(
            r#"data_dir = "{data}"
[lists]
sources = ["{lists}"]

[[school]]
slug = "test-school"
name = "Test School"

[school.groups.ks2]
name = "KS2 pupils"
kind = "pupil"
default = "allow"
[school.groups.ks2.actions]
gambling = "block"

[school.groups.unknown]
kind = "unidentified"
default = "allow"
[school.groups.unknown.actions]
gambling = "block"

[[school.devices]]
name = "ks2-laptop"
kind = "laptop"
group = "ks2"
addresses = ["127.0.0.20"]
"#,
            data = dir.join("data").display(),
            lists = lists.display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn config_check_accepts_the_demo_school() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(dir.path(), &repo().join("lists/sample"));
    let out = hedgerow(&["config", "check", config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("OK: 1 school(s)"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn config_check_names_the_key_and_line_of_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(dir.path(), &repo().join("lists/sample"));
    let broken = std::fs::read_to_string(&config).unwrap().replace(
        "gambling = \"block\"\n\n[school.groups.unknown]",
        "gambling = \"sometimes\"\n\n[school.groups.unknown]",
    );
    std::fs::write(&config, broken).unwrap();
    let out = hedgerow(&["config", "check", config.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("line 14"), "{err}");
    assert!(err.contains("groups.ks2.actions.gambling"), "{err}");

    std::fs::write(&config, "data_dir = \"x\"\n[lists\nsources = []\n").unwrap();
    let err = text(&hedgerow(&["config", "check", config.to_str().unwrap()]).stderr);
    assert!(err.contains("line 2"), "{err}");

    let err = text(&hedgerow(&["config", "check", "/nonexistent/hedgerow.toml"]).stderr);
    assert!(err.contains("cannot read the configuration file"), "{err}");
}

#[test]
fn compile_then_explain_by_device_address_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let lists = dir.path().join("lists");
    std::fs::create_dir(&lists).unwrap();
    std::fs::write(
        lists.join("gambling.domains"),
        "bets.example\nbroken..line\n",
    )
    .unwrap();
    let config = small_config(dir.path(), &lists);
    let config = config.to_str().unwrap();

    let out = hedgerow(&["lists", "compile", "--config", config]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("gambling.domains:2"),
        "broken line reported with file and line"
    );

    let out = hedgerow(&[
        "explain",
        "--config",
        config,
        "--ip",
        "127.0.0.20",
        "http://www.bets.example/x",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["verdict"], "block");
    assert_eq!(answer["category"], "gambling");
    assert_eq!(answer["rule"], "group:ks2/category:gambling");
    assert_eq!(answer["device"], "ks2-laptop");
    assert!(
        answer["reason"]
            .as_str()
            .unwrap()
            .contains("blocked for KS2 pupils")
    );

    let out = hedgerow(&[
        "explain",
        "--config",
        config,
        "--group",
        "ks2",
        "notbets.example",
        "--json",
    ]);
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["verdict"], "allow", "label boundary");

    // The illegal check entries are compiled in even though the configuration names none.
    let out = hedgerow(&[
        "explain",
        "--config",
        config,
        "--group",
        "ks2",
        "http://iwf-check.hedgerow.test/",
        "--json",
    ]);
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["verdict"], "block");
    assert_eq!(answer["rule"], "illegal:iwf-test");

    let out = hedgerow(&[
        "explain",
        "--config",
        config,
        "--at",
        "yesterday",
        "x.example",
    ]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("RFC 3339"));
}

#[test]
fn a_broken_list_file_keeps_the_previous_index() {
    let dir = tempfile::tempdir().unwrap();
    let lists = dir.path().join("lists");
    std::fs::create_dir(&lists).unwrap();
    std::fs::write(lists.join("gambling.domains"), "bets.example\n").unwrap();
    let config = small_config(dir.path(), &lists);
    let config = config.to_str().unwrap();
    assert!(
        hedgerow(&["lists", "compile", "--config", config])
            .status
            .success()
    );
    let index = dir.path().join("data/lists.hidx");
    let before = std::fs::read(&index).unwrap();

    std::fs::write(lists.join("games.domains"), b"<html>\x00\xff\n<body>\n").unwrap();
    let out = hedgerow(&["lists", "compile", "--config", config]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("games.domains"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read(&index).unwrap(), before);
}

#[test]
fn admin_accounts_are_made_from_the_command_line_with_password_rules_and_a_second_factor() {
    let dir = tempfile::tempdir().unwrap();
    let lists = dir.path().join("lists");
    std::fs::create_dir_all(&lists).unwrap();
    std::fs::write(lists.join("gambling.domains"), "bets.example\n").unwrap();
    let config = small_config(dir.path(), &lists);
    let create = |username: &str, roles: &str, password: &str| {
        let output = create_account_output(
            &config,
            &[
                "--username",
                username,
                "--name",
                "Alex Example",
                "--email",
                "alex@school.invalid",
                "--roles",
                roles,
            ],
            &format!("{password}\n"),
        );
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).to_string(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let (ok, _, err) = create("a.dsl", "dsl", "password123");
    assert!(!ok && err.contains("password was not accepted"), "{err}");
    let (ok, _, err) = create("a.dsl", "chief", "correct horse battery staple");
    assert!(
        !ok && err.contains("network-manager"),
        "names the roles: {err}"
    );
    let (ok, out, err) = create("a.dsl", "dsl,headteacher", "correct horse battery staple");
    assert!(ok, "{err}");
    assert!(
        out.contains("otpauth://totp/"),
        "the DSL must enrol a second factor: {out}"
    );
    let (ok, out, err) = create("t.teacher", "teacher", "a long and unusual passphrase");
    assert!(ok, "{err}");
    assert!(
        out.contains("otpauth://"),
        "a teacher records safeguarding concerns, so enrols a second factor: {out}"
    );
    let (ok, out, err) = create("g.governor", "governor", "a lengthy and unusual passphrase");
    assert!(ok, "{err}");
    assert!(
        !out.contains("otpauth://"),
        "a governor sees figures only: {out}"
    );
    let (ok, _, err) = create("A.DSL", "teacher", "another long unusual passphrase");
    assert!(!ok, "usernames are unique ignoring case: {err}");
}
