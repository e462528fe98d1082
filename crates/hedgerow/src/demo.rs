//! `hedgerow demo`: an invented school, complete enough to try every part of the system from
//! one machine.
//!
//! Every name, address and date here is made up. The configuration is written into the data
//! directory (so `explain --data-dir` and a SIGHUP reload read exactly what the demo runs),
//! and every demo account gets the demo password, which the store marks as demo-only.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::RunOptions;
use crate::gateway::{self, Launch};
use crate::setup::{CONFIG_IN_DATA_DIR, ConfigFile};

/// The password of every demo account. Accepted in demo mode only.
pub const DEMO_PASSWORD: &str = "hedgerow-demo";

/// The demo school's configuration. `@DATA_DIR@` and `@LISTS@` are filled in at start.
const DEMO_CONFIG: &str = include_str!("demo-school.toml");

#[derive(Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub run: RunOptions,
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let data_dir = args
        .run
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("hedgerow-demo"));
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let data_dir = data_dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", data_dir.display()))?;
    let lists = match &args.run.lists {
        Some(dir) => dir.canonicalize().with_context(|| {
            format!(
                "the list folder {} does not exist; give a folder of .domains/.urls files",
                dir.display()
            )
        })?,
        None => sample_lists()?,
    };
    let config_path = write_demo_config(&data_dir, &lists)?;
    let config = ConfigFile::read(&config_path)
        .context("the demo configuration is invalid (this is a bug in Hedgerow)")?;
    println!("Hedgerow demo: data in {}", data_dir.display());
    println!("  configuration: {}", config_path.display());
    println!("  lists: {}", lists.display());
    println!(
        "  try: hedgerow explain --data-dir {} --device ks2-laptop http://www.pokerstars.com/",
        data_dir.display()
    );
    let mut run = args.run;
    // The demo configuration already points at the chosen folders.
    run.data_dir = None;
    run.lists = None;
    gateway::start(Launch {
        config,
        run,
        demo_password_hash: Some(hash_demo_password()?),
    })
}

/// The sample lists shipped in the repository, for a demo started from a checkout.
fn sample_lists() -> anyhow::Result<PathBuf> {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../lists/sample");
    shipped.canonicalize().with_context(|| {
        format!(
            "the sample lists are not at {}; run the demo from a Hedgerow checkout or give --lists DIR",
            shipped.display()
        )
    })
}

/// Writes the demo configuration into the data directory and returns its path.
pub fn write_demo_config(data_dir: &Path, lists: &Path) -> anyhow::Result<PathBuf> {
    let text = DEMO_CONFIG
        .replace("@DATA_DIR@", &toml_string(data_dir))
        .replace("@LISTS@", &toml_string(lists));
    let path = data_dir.join(CONFIG_IN_DATA_DIR);
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// A path as the inside of a TOML basic string.
fn toml_string(path: &Path) -> String {
    path.display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
}

fn hash_demo_password() -> anyhow::Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    use rand_core::OsRng;
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(DEMO_PASSWORD.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the demo password: {e}"))
}
