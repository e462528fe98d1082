//! `hedgerow lists`: compile list folders into an index file, and show the categories.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use hedgerow_catalog::CompileReport;
use hedgerow_lists::{CATEGORIES, Taxonomy};

use crate::setup::{self, Source};

/// How many broken lines of one file are printed; the rest are counted.
const SHOWN_LINE_ERRORS: usize = 5;

#[derive(Subcommand)]
pub enum ListsCommand {
    /// Compile the configured list folders (or --lists) into the index the gateway uses.
    Compile(CompileArgs),
    /// Print Hedgerow's categories, their kinds and parents.
    Categories,
}

#[derive(Args)]
pub struct CompileArgs {
    #[command(flatten)]
    pub source: Source,
    /// A list folder to compile instead of the configured ones (repeatable).
    #[arg(long, value_name = "DIR")]
    pub lists: Vec<PathBuf>,
    /// Write the index here instead of the configured place.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(command: ListsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ListsCommand::Compile(args) => {
            let loaded = setup::ConfigFile::load(&args.source)?;
            let mut folders = if args.lists.is_empty() {
                loaded.list_folders.clone()
            } else {
                args.lists.clone()
            };
            // Illegal-content lists are always compiled in, whatever list folders were chosen.
            folders.extend(loaded.illegal_folders.iter().cloned());
            let output = args.output.unwrap_or_else(|| loaded.index_path.clone());
            loaded.ensure_builtin_lists()?;
            let taxonomy = loaded.taxonomy()?;
            let report = compile_and_install(&folders, &taxonomy, &output)?;
            print_report(&report, &output);
            Ok(ExitCode::SUCCESS)
        }
        ListsCommand::Categories => {
            println!("{:<22} {:<15} {:<20} name", "key", "kind", "parent");
            for category in CATEGORIES {
                let kind = format!("{:?}", category.kind).to_lowercase();
                println!(
                    "{:<22} {:<15} {:<20} {}",
                    category.key,
                    kind,
                    category.parent.unwrap_or("-"),
                    category.name
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn load_taxonomy(path: &Path) -> anyhow::Result<Taxonomy> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the taxonomy file {}; set [lists] taxonomy in the configuration",
            path.display()
        )
    })?;
    Taxonomy::parse(&text).with_context(|| format!("in the taxonomy file {}", path.display()))
}

/// Compiles the folders and installs the index atomically; the old index stays on any error.
pub fn compile_and_install(
    folders: &[PathBuf],
    taxonomy: &Taxonomy,
    output: &Path,
) -> anyhow::Result<CompileReport> {
    let report =
        hedgerow_catalog::compile(folders, taxonomy).context("compiling the lists failed")?;
    hedgerow_catalog::write_index(output, &report.bytes)
        .context("installing the compiled index failed")?;
    Ok(report)
}

fn print_report(report: &CompileReport, output: &Path) {
    let mut skipped = 0;
    for file in &report.files {
        skipped += file.errors.len();
        for error in file.errors.iter().take(SHOWN_LINE_ERRORS) {
            eprintln!(
                "warning: {}:{}: {} (line skipped)",
                file.source.path.display(),
                error.line,
                error.reason
            );
        }
        if file.errors.len() > SHOWN_LINE_ERRORS {
            eprintln!(
                "warning: {}: {} more broken lines skipped",
                file.source.path.display(),
                file.errors.len() - SHOWN_LINE_ERRORS
            );
        }
    }
    println!(
        "compiled {} entries from {} files ({} lists) in {:.2} s; {} broken lines skipped",
        report.entries,
        report.files.len(),
        report.lists,
        report.elapsed.as_secs_f64(),
        skipped
    );
    println!("index: {} ({} bytes)", output.display(), report.bytes.len());
}
