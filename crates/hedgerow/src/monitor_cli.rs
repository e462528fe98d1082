//! `hedgerow monitor`: tools for monitoring's risk libraries. `classify` runs the classifier over
//! one text per line of standard input, for evaluating and tuning the libraries.

use std::fs;
use std::io::{self, BufRead, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use hedgerow_risk::{AgeBand, Classifier, RiskLibrary};

#[derive(Subcommand)]
pub enum MonitorCommand {
    /// Classify one text per line from standard input; writes text, category and severity,
    /// tab-separated, per line (`none` and `0` when nothing matches).
    Classify(ClassifyArgs),
}

#[derive(Args)]
pub struct ClassifyArgs {
    /// Whose searches these are: early_years, primary, secondary, sixth_form or adult.
    #[arg(long, value_name = "BAND", default_value = "secondary")]
    pub age_band: String,
    /// A risk library file to add on top of the built-in ones (repeatable); entries with the
    /// same id replace the built-in ones.
    #[arg(long, value_name = "FILE")]
    pub library: Vec<PathBuf>,
    /// Use only the --library files, not the built-in English and Polish libraries.
    #[arg(long)]
    pub no_builtin: bool,
}

pub fn run(command: MonitorCommand) -> anyhow::Result<ExitCode> {
    match command {
        MonitorCommand::Classify(args) => classify(args),
    }
}

fn classify(args: ClassifyArgs) -> anyhow::Result<ExitCode> {
    let band = AgeBand::parse(&args.age_band).with_context(|| {
        format!(
            "{:?} is not an age band; use early_years, primary, secondary, sixth_form or adult",
            args.age_band
        )
    })?;
    let mut library = if args.no_builtin {
        RiskLibrary::default()
    } else {
        RiskLibrary::builtin()
    };
    for path in &args.library {
        let text = fs::read_to_string(path)
            .with_context(|| format!("cannot read the risk library {}", path.display()))?;
        let parsed = RiskLibrary::parse(&path.display().to_string(), &text)?;
        library.merge(parsed);
    }
    let classifier = Classifier::new(&library, &[])?;

    let stdout = io::stdout();
    let interactive = stdout.is_terminal();
    let mut output = BufWriter::new(stdout.lock());
    let mut input = io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = input
            .read_until(b'\n', &mut line)
            .context("cannot read standard input")?;
        if read == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        // Invalid UTF-8 becomes U+FFFD instead of stopping the run.
        let text = String::from_utf8_lossy(&line);
        let (category, severity) = match classifier.classify(&text, band) {
            Some(found) => (found.category.as_str(), found.severity),
            None => ("none", 0),
        };
        // A tab inside the text would shift the columns.
        let shown = text.replace('\t', " ");
        let written = writeln!(output, "{shown}\t{category}\t{severity}")
            .and_then(|()| if interactive { output.flush() } else { Ok(()) });
        if let Err(error) = written {
            return finish_write_error(error);
        }
    }
    if let Err(error) = output.flush() {
        return finish_write_error(error);
    }
    Ok(ExitCode::SUCCESS)
}

/// A reader that stops early (`| head`) is not a failure of the classifier.
fn finish_write_error(error: io::Error) -> anyhow::Result<ExitCode> {
    if error.kind() == io::ErrorKind::BrokenPipe {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(error).context("cannot write to standard output")
    }
}
