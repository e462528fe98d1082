//! `hedgerow ca`: make and show the school CA used for selective HTTPS inspection.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};
use hedgerow_tls::{CaFiles, SchoolCa};

use crate::setup::ConfigFile;

const GUIDE: &str = "docs/https-inspection.md";

#[derive(Subcommand)]
pub enum CaCommand {
    /// Make the school CA (key and certificate) in the data directory.
    Init(InitArgs),
    /// Print the school CA certificate (PEM, on standard output) and its SHA-256 fingerprint.
    Show(Where),
}

/// Which data directory holds the CA.
#[derive(Args)]
pub struct Where {
    /// The configuration file; its data directory holds the CA.
    #[arg(long, value_name = "FILE", conflicts_with = "data_dir")]
    config: Option<PathBuf>,
    /// The data directory itself.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Args)]
pub struct InitArgs {
    #[command(flatten)]
    place: Where,
    /// The school's name, for the certificate's name (default: the configured school's).
    #[arg(long, value_name = "NAME")]
    school_name: Option<String>,
    /// Replace an existing CA. Every device must then be given the new certificate.
    #[arg(long)]
    force: bool,
}

pub fn run(command: CaCommand) -> anyhow::Result<ExitCode> {
    match command {
        CaCommand::Init(args) => init(args),
        CaCommand::Show(place) => show(place),
    }
}

/// The data directory, and the configuration file if one was named.
fn locate(place: &Where) -> anyhow::Result<(PathBuf, Option<ConfigFile>)> {
    match (&place.config, &place.data_dir) {
        (Some(file), _) => {
            let config = ConfigFile::read(file)?;
            Ok((config.data_dir.clone(), Some(config)))
        }
        (None, Some(dir)) => Ok((dir.clone(), None)),
        (None, None) => bail!("say where the CA lives: --config FILE, or --data-dir DIR"),
    }
}

fn init(args: InitArgs) -> anyhow::Result<ExitCode> {
    let (data_dir, config) = locate(&args.place)?;
    let school_name = match args.school_name {
        Some(name) => name,
        None => match config.as_ref().map(|c| c.config.schools.as_slice()) {
            Some([only]) => only.policy.school_name.clone(),
            _ => String::new(),
        },
    };
    let files = SchoolCa::init(&data_dir, &school_name, args.force)?;
    let ca = SchoolCa::load(&data_dir)?;
    let CaFiles {
        key,
        cert_pem,
        cert_der,
    } = files;
    println!(
        "Made the school CA \"{}\", valid until {}.",
        ca.common_name(),
        ca.expires()
    );
    println!(
        "  private key:  {} (mode 0600; keep it here and in a secure backup, never on devices)",
        key.display()
    );
    println!(
        "  certificate:  {} (PEM: macOS, ChromeOS, iPadOS, Linux)",
        cert_pem.display()
    );
    println!(
        "  certificate:  {} (DER: Windows Group Policy)",
        cert_der.display()
    );
    println!("SHA-256 fingerprint: {}", ca.fingerprint_sha256());
    println!(
        "Install the certificate as a trusted root on every school device before turning on HTTPS inspection: see {GUIDE}."
    );
    Ok(ExitCode::SUCCESS)
}

fn show(place: Where) -> anyhow::Result<ExitCode> {
    let (data_dir, _) = locate(&place)?;
    let ca = SchoolCa::load(&data_dir)?;
    // The certificate alone on standard output, so `hedgerow ca show > school-ca.pem` works.
    print!("{}", ca.certificate_pem());
    eprintln!("Name: {}", ca.common_name());
    eprintln!("Valid until: {}", ca.expires());
    eprintln!("SHA-256 fingerprint: {}", ca.fingerprint_sha256());
    Ok(ExitCode::SUCCESS)
}
