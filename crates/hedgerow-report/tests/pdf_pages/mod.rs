//! Looking at a PDF as a reader would: its pages rendered to PNG by poppler's `pdftoppm`
//! (each checked to be a PNG and not blank) and its text as `pdftotext -layout` lays it out.
//! Shared by the report crate's tests and the gateway's termly report test
//! (`crates/hedgerow/tests/termly_report.rs` includes this file by path).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether `pdftoppm` and `pdftotext` are installed. Missing, they skip the caller's test,
/// unless `HEDGEROW_REQUIRE_PDF_TOOLS` is set (CI sets it), when they fail it.
pub fn tools_available() -> bool {
    let found = Command::new("pdftoppm").arg("-v").output().is_ok()
        && Command::new("pdftotext").arg("-v").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("HEDGEROW_REQUIRE_PDF_TOOLS").is_none(),
            "HEDGEROW_REQUIRE_PDF_TOOLS is set but pdftoppm or pdftotext is missing: install poppler-utils (scripts/test-env.sh does)"
        );
        eprintln!(
            "SKIPPED: pdftoppm or pdftotext not found; install poppler-utils to run this test"
        );
    }
    found
}

/// What a reader of a PDF sees.
pub struct Seen {
    /// The PNG files, one a page, in page order.
    pub pages: Vec<PathBuf>,
    /// The text, laid out as on the page.
    pub text: String,
}

/// Renders `pdf` (a file) in `dir`: every page to a PNG at 100 dpi, each checked to hold
/// something (a blank A4 page at 100 dpi has no dark pixels; a page of text has thousands),
/// and its text.
pub fn look_at(pdf: &Path, dir: &Path) -> Seen {
    run(Command::new("pdftoppm")
        .args(["-r", "100", "-png"])
        .arg(pdf)
        .arg(dir.join("page")));
    let pages = files_ending(dir, "png");
    assert!(!pages.is_empty(), "pdftoppm made no pages");
    for png in &pages {
        let bytes = std::fs::read(png).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{png:?} is not a PNG"
        );
    }
    run(Command::new("pdftoppm")
        .args(["-r", "100", "-gray"])
        .arg(pdf)
        .arg(dir.join("grey")));
    let greys = files_ending(dir, "pgm");
    assert_eq!(greys.len(), pages.len());
    for pgm in &greys {
        let dark = dark_pixels(&std::fs::read(pgm).unwrap());
        assert!(dark > 2_000, "{pgm:?} is nearly blank ({dark} dark pixels)");
    }
    let text_path = dir.join("text.txt");
    run(Command::new("pdftotext")
        .arg("-layout")
        .arg(pdf)
        .arg(&text_path));
    Seen {
        pages,
        text: std::fs::read_to_string(&text_path).unwrap(),
    }
}

fn run(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Files in `dir` ending in `extension`, in page order.
fn files_ending(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
}

/// Pixels darker than mid-grey in a binary PGM (P5, 8-bit) file.
fn dark_pixels(pgm: &[u8]) -> usize {
    // Header: magic, width, height, maxval, each separated by whitespace; then one byte a pixel.
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(std::str::from_utf8(&pgm[start..at]).unwrap().to_owned());
    }
    assert_eq!(fields[0], "P5");
    assert_eq!(fields[3], "255");
    let width: usize = fields[1].parse().unwrap();
    let height: usize = fields[2].parse().unwrap();
    let pixels = &pgm[at + 1..];
    assert_eq!(pixels.len(), width * height);
    pixels.iter().filter(|&&p| p < 128).count()
}
