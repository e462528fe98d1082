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

/// The TOTP secret of the demo's staff accounts that need a second factor. Published here
/// on purpose: the demo's accounts are for trying Hedgerow, never for a real school.
pub const DEMO_TOTP_SECRET: &str = "JBSWY3DPEHPK3PXPHEDGEROWDEMOTOTP";

/// The demo's admin app accounts: (username, name, roles).
pub const DEMO_STAFF: &[(&str, &str, &[&str])] = &[
    ("dsl.demo", "Dana Moss (DSL, demo)", &["dsl"]),
    (
        "osl.demo",
        "Omar Reed (online-safety lead, demo)",
        &["online-safety-lead"],
    ),
    (
        "head.demo",
        "Helen Park (headteacher, demo)",
        &["headteacher"],
    ),
    (
        "netman.demo",
        "Nia Stone (network manager, demo)",
        &["network-manager"],
    ),
    ("teacher.demo", "Tom Ash (teacher, demo)", &["teacher"]),
    (
        "governor.demo",
        "Grace Lowe (governor, demo)",
        &["governor"],
    ),
];

/// Makes the demo's admin app accounts in the demo's store, once.
pub async fn ensure_demo_staff(
    store: &hedgerow_store::Store,
    school: hedgerow_store::SchoolId,
    password_hash: &str,
) -> anyhow::Result<()> {
    let by = hedgerow_store::ActingUser::new("system:demo");
    for (username, name, roles) in DEMO_STAFF {
        if store.admin_account_by_username(username).await?.is_some() {
            continue;
        }
        let id = store
            .create_admin_account(
                &hedgerow_store::NewAdminAccount {
                    school: Some(school),
                    username: username.to_string(),
                    display_name: name.to_string(),
                    email: format!("{username}@school.invalid"),
                    password_hash: password_hash.to_string(),
                    roles: roles.iter().map(|r| r.to_string()).collect(),
                },
                &by,
            )
            .await?;
        let parsed: Vec<_> = roles
            .iter()
            .filter_map(|r| hedgerow_accounts::Role::parse(r).ok())
            .collect();
        if hedgerow_accounts::requires_second_factor(&parsed) {
            store
                .set_admin_totp_secret(id, Some(DEMO_TOTP_SECRET), &by)
                .await?;
        }
    }
    Ok(())
}

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
    println!(
        "  admin app: http://127.0.0.1:8080/ (unless --admin-listen says otherwise); sign in as {} with the password {DEMO_PASSWORD}",
        DEMO_STAFF
            .iter()
            .map(|(u, _, _)| *u)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let with_code: Vec<&str> = DEMO_STAFF
        .iter()
        .filter(|(_, _, roles)| {
            let roles: Vec<_> = roles
                .iter()
                .filter_map(|r| hedgerow_accounts::Role::parse(r).ok())
                .collect();
            hedgerow_accounts::requires_second_factor(&roles)
        })
        .map(|(u, _, _)| *u)
        .collect();
    println!(
        "    {} also need a code: add the secret {DEMO_TOTP_SECRET} to an authenticator app, or run `hedgerow admin code`",
        with_code.join(", ")
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
