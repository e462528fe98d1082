//! `hedgerow people import`: pupils, classes or staff from a school information system's CSV
//! export, from the command line, with the same reading, year group mapping, plan and
//! all-or-nothing commit as the admin app's people page (`--dry-run` shows the plan only).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use hedgerow_import::{ImportOptions, Kind, YearMapping, read_import};
use hedgerow_store::{ActingUser, ImportPlan, Store};

use crate::setup::{self, Source};

#[derive(Subcommand)]
pub enum PeopleCommand {
    /// Import pupils, classes or staff from a CSV export (all or nothing; nobody is deleted).
    Import(ImportArgs),
}

#[derive(Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub source: Source,
    /// What the file holds: pupils, classes or staff.
    #[arg(long, value_parser = ["pupils", "classes", "staff"])]
    pub kind: String,
    /// The CSV file.
    pub file: PathBuf,
    /// The school (its slug); without it, the configuration's only school.
    #[arg(long)]
    pub school: Option<String>,
    /// A year group mapping file (lines like `Year 3 - Year 6 = ks2`); without it, the
    /// mapping last used in the admin app, else one suggested from the school's groups.
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// Disable people of this kind whom an import brought in and who are not in this file.
    #[arg(long)]
    pub disable_missing: bool,
    /// Check the file and show what would change, without changing anything.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(command: PeopleCommand) -> anyhow::Result<ExitCode> {
    match command {
        PeopleCommand::Import(args) => import(args),
    }
}

fn print_plan(plan: &ImportPlan, dry_run: bool) {
    let verb = if dry_run { "would be" } else { "were" };
    println!(
        "{} new, {} changed ({} enabled again), {} unchanged, {} disabled as leavers {verb} imported",
        plan.created_count,
        plan.updated_count,
        plan.enabled_count,
        plan.unchanged_count,
        plan.disabled_count
    );
    for change in &plan.updated {
        println!("  changed {}: {}", change.name, change.changes.join("; "));
    }
    for name in &plan.disabled {
        println!("  disabled {name}");
    }
}

fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let kind = Kind::parse(&args.kind).context("--kind must be pupils, classes or staff")?;
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let config = setup::ConfigFile::load(&args.source)?;
    let school = match (&args.school, config.config.schools.as_slice()) {
        (Some(slug), schools) => schools
            .iter()
            .find(|s| &s.policy.school == slug)
            .with_context(|| format!("there is no school {slug:?} in the configuration"))?,
        (None, [only]) => only,
        (None, _) => bail!("the configuration has several schools; say which with --school"),
    };
    let policy = &school.policy;
    let groups = hedgerow_web::import_groups(policy);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                config.data_dir.display()
            )
        })?;
        let store = Store::open(&config.database_url)
            .await
            .context("cannot open the store; is the data directory right?")?;
        let school_id = store
            .ensure_school(
                &policy.school,
                &policy.school_name,
                policy.time_zone.iana_name().unwrap_or("Europe/London"),
            )
            .await?;
        let mapping_text = match &args.mapping {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the mapping {}", path.display()))?,
            None => match store
                .setting(school_id, hedgerow_web::MAPPING_SETTING)
                .await?
            {
                Some(saved) => saved,
                None => YearMapping::suggested(&groups).to_text(),
            },
        };
        let mapping = match YearMapping::parse(&mapping_text, &groups) {
            Ok(m) => m,
            Err(problems) => {
                for p in problems {
                    eprintln!("hedgerow: {p}");
                }
                bail!("the year group mapping has problems; nothing was imported");
            }
        };
        let import = match read_import(
            kind,
            &bytes,
            &ImportOptions {
                groups: &groups,
                mapping: &mapping,
                today: jiff::Timestamp::now()
                    .to_zoned_datetime(policy.time_zone.clone())
                    .date(),
            },
        ) {
            Ok(import) => import,
            Err(refused) => {
                eprintln!("hedgerow: {refused}");
                store.close().await;
                return Ok(ExitCode::FAILURE);
            }
        };
        for warning in &import.warnings {
            eprintln!("note: {warning}");
        }
        let batch = hedgerow_web::import_batch(&import, args.disable_missing);
        let plan = if args.dry_run {
            store.plan_people_import(school_id, &batch).await?
        } else {
            let who = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
            let by = ActingUser::new(format!("cli:{who}"));
            store
                .import_people(school_id, &batch, &by)
                .await
                .context("nothing was imported")?
        };
        if !plan.conflicts.is_empty() {
            for conflict in &plan.conflicts {
                eprintln!("hedgerow: {conflict}");
            }
            store.close().await;
            bail!("the import cannot be made as it stands; nothing was imported");
        }
        print_plan(&plan, args.dry_run);
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })
}
