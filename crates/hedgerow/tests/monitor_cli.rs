//! `hedgerow monitor classify` as an evaluator runs it: the real binary, texts on standard input,
//! one tab-separated verdict per line out. All texts are invented.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn classify(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hedgerow"))
        .args(["monitor", "classify"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hedgerow");
    let mut stdin = child.stdin.take().expect("stdin");
    // A run that stops on a bad argument closes its input early; its exit status tells.
    if let Err(error) = stdin.write_all(input) {
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
    }
    drop(stdin);
    child.wait_with_output().expect("wait for hedgerow")
}

fn lines(output: &Output) -> Vec<String> {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone())
        .expect("UTF-8 output")
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn classifies_each_line() {
    let input = b"how to kill myself tonight\r\nhow to kill a python process\nsad poems\ns u i c i d e\nkasyno online\n\nfree porn videos";
    let output = classify(&[], input);
    assert_eq!(
        lines(&output),
        [
            "how to kill myself tonight\tsuicide_self_harm\t5",
            "how to kill a python process\tnone\t0",
            "sad poems\tnone\t0",
            "s u i c i d e\tsuicide_self_harm\t3",
            "kasyno online\tgambling\t3",
            "\tnone\t0",
            "free porn videos\tpornography\t3",
        ]
    );
}

#[test]
fn the_age_band_changes_the_verdict() {
    let secondary = classify(&[], b"boobs\n");
    assert_eq!(lines(&secondary), ["boobs\tnone\t0"]);
    let primary = classify(&["--age-band", "primary"], b"boobs\n");
    assert_eq!(lines(&primary), ["boobs\tpornography\t3"]);
}

#[test]
fn invalid_utf8_and_tabs_do_not_stop_the_run() {
    let output = classify(&[], b"\xff\xfe want to die\nkill\tmyself\n");
    assert_eq!(
        lines(&output),
        [
            "\u{FFFD}\u{FFFD} want to die\tsuicide_self_harm\t4",
            "kill myself\tsuicide_self_harm\t4",
        ]
    );
}

#[test]
fn extra_libraries_are_read_and_their_errors_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = dir.path().join("school.risk");
    std::fs::write(
        &good,
        "language en\ncategory bullying\nentry school.bully.nickname 3 = smelly ~1 sam\n",
    )
    .expect("write library");
    let output = classify(
        &["--library", good.to_str().expect("path"), "--no-builtin"],
        b"smelly old sam\nkill myself\n",
    );
    assert_eq!(
        lines(&output),
        ["smelly old sam\tbullying\t3", "kill myself\tnone\t0"]
    );

    let bad = dir.path().join("bad.risk");
    std::fs::write(&bad, "language en\ncategory bullying\nentry x 9 = y\n").expect("write");
    let output = classify(&["--library", bad.to_str().expect("path")], b"x\n");
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("line 3"), "{message}");
    assert!(message.contains("1 (advisory) to 5"), "{message}");

    let output = classify(&["--age-band", "toddlers"], b"x\n");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("early_years"));
}
