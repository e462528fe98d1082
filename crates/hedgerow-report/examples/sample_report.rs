//! Writes the report for an invented week to `weekly-report.html` and `weekly-report.pdf` in
//! the folder given (or the current one), to look at by eye:
//! `cargo run -p hedgerow-report --example sample_report -- /tmp`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let folder = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".to_owned()));
    let week = common::sample_week();
    std::fs::write(
        folder.join("weekly-report.html"),
        hedgerow_report::render_html(&week),
    )?;
    std::fs::write(
        folder.join("weekly-report.pdf"),
        hedgerow_report::render_pdf(&week),
    )?;
    println!(
        "Wrote weekly-report.html and weekly-report.pdf to {}",
        folder.display()
    );
    Ok(())
}
