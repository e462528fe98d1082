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

/// The demo's pupil who has not yet accepted their agreement, on [`DEMO_HELD_LAPTOP`].
pub const DEMO_NEW_PUPIL: &str = "pupil.new";
/// A guest address on the demo's guest Wi-Fi that has been let on with a day code today;
/// the network's other address (127.0.0.41) has not, and meets the portal.
pub const DEMO_ADMITTED_GUEST: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 40);

/// Lets the demo's people and devices in held groups browse as before: each has an invented
/// paper acceptance of their agreement (recorded by `system:demo`), and the first guest
/// address is let on until midnight with a day code issued to "Demo visitor". Only
/// [`DEMO_NEW_PUPIL`] and the second guest address meet the portal. Runs at every start, and
/// records only what is missing.
pub async fn ensure_demo_agreements(
    store: &hedgerow_store::Store,
    school: hedgerow_store::SchoolId,
    config: &hedgerow_config::SchoolConfig,
) -> anyhow::Result<()> {
    use hedgerow_store::{AcceptanceMethod, NewAcceptance, SubjectKind};
    store
        .ensure_default_agreements(school, &crate::agreement_gate::default_agreements())
        .await?;
    let current: std::collections::HashMap<String, i64> = store
        .current_agreements(school)
        .await?
        .into_iter()
        .map(|v| (v.audience, v.id))
        .collect();
    let held_group = |key: &str| {
        config
            .agreement_hold
            .iter()
            .any(|h| h == key)
            .then(|| config.policy.groups.iter().find(|g| g.key == key))
            .flatten()
    };
    let audience_version = |group: &hedgerow_policy::GroupSpec| {
        let audience =
            hedgerow_agreements::Audience::for_group(group.kind.key(), &group.key, &group.name);
        current.get(audience.key()).copied()
    };
    let mut subjects: Vec<(SubjectKind, String, String, i64)> = Vec::new();
    for user in &config.directory.users {
        if user.username == DEMO_NEW_PUPIL {
            continue;
        }
        if let Some(version) = held_group(&user.group).and_then(audience_version) {
            subjects.push((
                SubjectKind::User,
                user.username.clone(),
                user.display_name.clone(),
                version,
            ));
        }
    }
    for device in &config.directory.devices {
        let Some(group) = device.group.as_deref().and_then(held_group) else {
            continue;
        };
        if device.owner.is_none()
            && crate::agreement_gate::devices_answer_for_themselves(group.kind)
            && let Some(version) = audience_version(group)
        {
            subjects.push((
                SubjectKind::Device,
                device.name.clone(),
                format!("whoever uses {}", device.name),
                version,
            ));
        }
    }
    let now = jiff::Timestamp::now();
    for (kind, subject, signed_by, version) in subjects {
        let accepted = store.acceptances_for(school, kind, &subject).await?;
        if accepted.iter().any(|a| a.version_id == version) {
            continue;
        }
        store
            .record_acceptance(&NewAcceptance {
                school,
                version_id: version,
                subject_kind: kind,
                subject,
                signed_by,
                relationship: "staff-on-behalf".into(),
                method: AcceptanceMethod::Paper,
                recorded_by: Some("system:demo".into()),
                client_addr: None,
                accepted_at: now,
            })
            .await?;
    }
    let guest = std::net::IpAddr::V4(DEMO_ADMITTED_GUEST);
    if store
        .visitor_admissions(school, now)
        .await?
        .iter()
        .all(|a| a.client_addr != guest)
    {
        let zone = config.policy.time_zone.clone();
        let today = now.to_zoned_datetime(zone.clone()).date();
        let midnight = today.tomorrow()?.to_zoned_datetime(zone)?.timestamp();
        let mut random = [0u8; 8];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random)
            .map_err(|_| anyhow::anyhow!("no random numbers for the demo's day code"))?;
        let code = hedgerow_agreements::day_code(random);
        let issued = store
            .issue_visitor_code(
                school,
                &hedgerow_agreements::sha256_hex(code.as_bytes()),
                "Demo visitor",
                today,
                "system:demo",
            )
            .await?;
        store
            .admit_visitor(school, issued.id, guest, midnight, now)
            .await?;
    }
    Ok(())
}

/// Gives the demo's records pages something to show, once: two invented safeguarding records
/// about the demo's KS2 pupil, one new and one the DSL has acted on and closed. Everything in
/// them is made up.
pub async fn ensure_demo_records(
    store: &hedgerow_store::Store,
    school: hedgerow_store::SchoolId,
) -> anyhow::Result<()> {
    use hedgerow_store::{ActingUser, NewRecord, PersonInvolved, Reader, RecordFilter};
    let reader = Reader {
        actor: "system:demo".into(),
        from_addr: None,
        purpose: "seeding the demo's invented records".into(),
    };
    let any = RecordFilter {
        limit: 1,
        ..RecordFilter::default()
    };
    if !store.records(school, &any, &reader).await?.is_empty() {
        return Ok(());
    }
    let pupil = || PersonInvolved {
        person_role: "pupil".into(),
        involvement: "affected".into(),
        display_name: "Demo Pupil (Year 5)".into(),
        username: Some("pupil.ks2".into()),
        date_of_birth: None,
    };
    let now = jiff::Timestamp::now();
    let days_ago = |days: i64| now - jiff::SignedDuration::from_hours(24 * days);
    let teacher = ActingUser::new("teacher.demo");
    let dsl = ActingUser::new("dsl.demo");
    let closed = store
        .create_record(
            school,
            &NewRecord {
                record_type: "online-safety".into(),
                reporter: "Tom Ash (teacher, demo)".into(),
                reported_at: days_ago(9),
                incident_at: Some(days_ago(10)),
                location: "out-of-school".into(),
                people: vec![pupil()],
                types: vec!["cyberbullying".into(), "threatening-messages".into()],
                summary: "Unkind messages in a game's chat after school (invented)".into(),
                disclosure: "They keep saying nobody likes me in the game chat.".into(),
                observations: "Told to me at the start of the day; the pupil was upset.".into(),
                websites: String::new(),
                apps_games: "An online building game (invented)".into(),
                online_names: "BlockBuilder99 (invented)".into(),
                evidence_description: "The pupil showed me the messages on a parent's tablet;                                        not copied."
                    .into(),
                alert_ids: Vec::new(),
            },
            &teacher,
        )
        .await?;
    store
        .hand_to_dsl(school, closed, "dsl.demo", days_ago(9), &dsl)
        .await?;
    store
        .add_action(
            school,
            closed,
            "parents-informed",
            "Phoned the pupil's parent; they will report the account to the game.",
            days_ago(8),
            &dsl,
        )
        .await?;
    store
        .add_action(
            school,
            closed,
            "support-offered",
            "Check-ins with the class teacher for two weeks.",
            days_ago(8),
            &dsl,
        )
        .await?;
    store
        .close_record(
            school,
            closed,
            "Messages stopped once the account was reported; pupil settled.",
            Some("No risk of significant harm; handled with parents and in school."),
            &dsl,
        )
        .await?;
    store
        .create_record(
            school,
            &NewRecord {
                record_type: "online-safety".into(),
                reporter: "Tom Ash (teacher, demo)".into(),
                reported_at: days_ago(1),
                incident_at: None,
                location: "in-school".into(),
                people: vec![pupil()],
                types: vec!["age-inappropriate".into()],
                summary: "Tried to open a gambling site in a lesson (invented)".into(),
                disclosure: String::new(),
                observations: "Saw the block page on the class laptop screen.".into(),
                websites: "A gambling site (blocked)".into(),
                apps_games: String::new(),
                online_names: String::new(),
                evidence_description: "The block page; see the activity log.".into(),
                alert_ids: Vec::new(),
            },
            &teacher,
        )
        .await?;
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
