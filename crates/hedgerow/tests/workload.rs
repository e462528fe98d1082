//! `hedgerow explain` over the shared workloads agrees with their expected verdicts, with the
//! benchmark policy (the lists in `policy-school.txt` blocked for a pupil group).
//!
//! The workloads and lists live in `../shared/data` beside the checkout, as on every machine
//! this project is built on. See docs/workload-agreement.md for what "agree" means.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::{shared_data, workload_school};

fn hedgerow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hedgerow"))
}

/// A configuration whose pupil group blocks exactly the benchmark policy's lists, compiled.
fn workload_config(dir: &Path) -> PathBuf {
    let path = workload_school(dir, "", "");
    let status = hedgerow()
        .args(["lists", "compile", "--config"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

/// Runs `explain --json -` over the first column of a workload and compares verdicts.
fn agreement(config: &Path, workload: &str) -> (usize, usize, Vec<String>) {
    let text = std::fs::read_to_string(shared_data().join("workload").join(workload)).unwrap();
    let rows: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            Some((fields.next()?, fields.next()?))
        })
        .collect();
    let mut child = hedgerow()
        .args(["explain", "--group", "pupils", "--json", "--config"])
        .arg(config)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input: String = rows
        .iter()
        .map(|(target, _)| format!("{}\n", target.trim_end_matches(":443")))
        .collect();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success(), "explain failed");
    let answers: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), rows.len(), "one answer per row");
    let mut agree = 0;
    let mut disagreements = Vec::new();
    for ((target, expected), answer) in rows.iter().zip(&answers) {
        if answer["verdict"] == *expected {
            agree += 1;
        } else if disagreements.len() < 20 {
            disagreements.push(format!("{target}: expected {expected}, got {answer}"));
        }
    }
    (agree, rows.len(), disagreements)
}

#[test]
fn explain_agrees_with_the_expected_verdicts_of_the_shared_workloads() {
    let dir = tempfile::tempdir().unwrap();
    let config = workload_config(dir.path());
    for workload in [
        "urls.expected.tsv",
        "dns-queries.expected.tsv",
        "connect.expected.tsv",
    ] {
        let (agree, rows, disagreements) = agreement(&config, workload);
        let share = agree as f64 / rows as f64;
        eprintln!(
            "{workload}: {agree} of {rows} agree ({:.4} %)",
            share * 100.0
        );
        assert!(
            share >= 0.999,
            "{workload}: only {share}; first disagreements:\n{}",
            disagreements.join("\n")
        );
    }
}
