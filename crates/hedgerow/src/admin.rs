//! `hedgerow admin`: staff accounts for the admin app, from the command line.
//!
//! The first accounts that may read a person's browsing (the DSL, the headteacher) cannot be
//! granted by anyone in the app (`hedgerow_accounts::can_grant`), so they are made here, by
//! whoever runs the server. The password is read from standard input, never from the command
//! line (where other users could see it in the process list), and checked against the same
//! rules as the app's. Roles that need a second factor get a TOTP secret to enrol at once.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use hedgerow_accounts::{
    Role, TotpSecret, check_new_password, hash_password, requires_second_factor,
};
use hedgerow_store::{ActingUser, NewAdminAccount, Store};

use crate::setup::{self, Source};

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a staff account for the admin app (the password is read from standard input).
    CreateAccount(CreateAccountArgs),
    /// Print the current sign-in code for a TOTP secret (for the demo's documented secret,
    /// or to check an authenticator app's clock).
    Code(CodeArgs),
}

#[derive(Args)]
pub struct CodeArgs {
    /// The base32 secret; without it, the demo accounts' secret.
    #[arg(long)]
    pub secret: Option<String>,
}

#[derive(Args)]
pub struct CreateAccountArgs {
    #[command(flatten)]
    pub source: Source,
    /// The sign-in name (letters, digits, `.`, `_`, `-`, `@`).
    #[arg(long)]
    pub username: String,
    /// The name shown in the app and the audit log.
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub email: String,
    /// Roles, comma-separated: dsl, deputy-dsl, online-safety-lead, headteacher,
    /// network-manager, teacher, governor, trust-admin.
    #[arg(long, value_delimiter = ',', required = true)]
    pub roles: Vec<String>,
    /// The school (its slug); without it, the configuration's only school. Not used with
    /// --trust-wide.
    #[arg(long, conflicts_with = "trust_wide")]
    pub school: Option<String>,
    /// An account across every school (trust or local-authority administrators).
    #[arg(long)]
    pub trust_wide: bool,
}

pub fn run(command: AdminCommand) -> anyhow::Result<ExitCode> {
    match command {
        AdminCommand::CreateAccount(args) => create_account(args),
        AdminCommand::Code(args) => {
            let text = args
                .secret
                .as_deref()
                .unwrap_or(crate::demo::DEMO_TOTP_SECRET);
            let secret = TotpSecret::from_base32(text)
                .map_err(|e| anyhow::anyhow!("that is not a TOTP secret: {e}"))?;
            let now = jiff::Timestamp::now().as_second().max(0) as u64;
            println!("{}", hedgerow_accounts::totp::code_at(&secret, now));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn create_account(args: CreateAccountArgs) -> anyhow::Result<ExitCode> {
    let roles: Vec<Role> = args
        .roles
        .iter()
        .map(|r| {
            Role::parse(r.trim()).map_err(|e| {
                anyhow::anyhow!(
                    "{e}; use one or more of: {}",
                    Role::ALL
                        .iter()
                        .map(|r| r.key())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("cannot read the password from standard input")?;
    let password = password.trim_end_matches(['\r', '\n']);
    if let Err(problem) = check_new_password(password, &args.username, &args.name) {
        bail!("the password was not accepted: {problem}");
    }
    let hash = hash_password(password).context("cannot hash the password")?;

    let config = setup::ConfigFile::load(&args.source)?;
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let store = Store::open(&config.database_url)
            .await
            .context("cannot open the store; is the data directory right?")?;
        let school = if args.trust_wide {
            None
        } else {
            let policy = match (&args.school, config.config.schools.as_slice()) {
                (Some(slug), schools) => &schools
                    .iter()
                    .find(|s| &s.policy.school == slug)
                    .with_context(|| format!("there is no school {slug:?} in the configuration"))?
                    .policy,
                (None, [only]) => &only.policy,
                (None, _) => bail!("the configuration has several schools; say which with --school"),
            };
            // The same record the gateway keeps for the school, made now if it has not run yet.
            let id = store
                .ensure_school(
                    &policy.school,
                    &policy.school_name,
                    policy.time_zone.iana_name().unwrap_or("Europe/London"),
                )
                .await?;
            Some(id)
        };
        let who = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        let by = ActingUser {
            name: format!("cli:{who}"),
            from_addr: None,
        };
        let id = store
            .create_admin_account(
                &NewAdminAccount {
                    school,
                    username: args.username.clone(),
                    display_name: args.name.clone(),
                    email: args.email.clone(),
                    password_hash: hash,
                    roles: roles.iter().map(|r| r.key().to_string()).collect(),
                },
                &by,
            )
            .await
            .context("the account was not created")?;
        println!("created the account {:?} ({})", args.username, roles.iter().map(|r| r.name()).collect::<Vec<_>>().join(", "));
        if requires_second_factor(&roles) {
            let secret = TotpSecret::generate().context("no random numbers for the second factor")?;
            store
                .set_admin_totp_secret(id, Some(&secret.to_base32()), &by)
                .await
                .context("the second-factor secret was not stored")?;
            println!(
                "these roles can read a person's browsing or safeguarding records, so signing in needs a code from an authenticator app as well."
            );
            println!("add it to the app now, with this link or QR code (keep it private):");
            println!("  {}", secret.otpauth_uri("Hedgerow", &args.username));
            println!("  secret: {}", secret.to_base32());
        }
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })
}
