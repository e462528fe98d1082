//! `hedgerow activity`: the newest activity events, for the network manager at a terminal
//! (and for tests) until the admin app's explorer exists.
//!
//! Browsing history is sensitive data about children: every run is a read recorded in the
//! audit log with who ran it (the Unix user) and the purpose they gave.

use std::net::IpAddr;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use hedgerow_store::{EventFilter, Reader, Store, Verdict};

use crate::setup::{self, Source};

#[derive(Args)]
pub struct ActivityArgs {
    #[command(flatten)]
    pub source: Source,
    /// Why you are reading this person's or device's activity (recorded in the audit log).
    #[arg(long, value_name = "TEXT")]
    pub purpose: String,
    /// The school, when the configuration has several.
    #[arg(long, value_name = "SLUG")]
    pub school: Option<String>,
    /// Only this user's events.
    #[arg(long, value_name = "USERNAME")]
    pub user: Option<String>,
    /// Only events from this client address.
    #[arg(long, value_name = "ADDRESS")]
    pub client: Option<IpAddr>,
    /// Only blocked events.
    #[arg(long)]
    pub blocked: bool,
    /// How many of the newest events to show.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub limit: u32,
}

/// Prints events as tab-separated lines, newest first, with a header line.
pub fn run(args: ActivityArgs) -> anyhow::Result<ExitCode> {
    if args.purpose.trim().is_empty() {
        anyhow::bail!(
            "say why you are reading activity with --purpose; it is recorded in the audit log"
        );
    }
    let config = setup::ConfigFile::load(&args.source)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let store = Store::open(&config.database_url)
            .await
            .context("cannot open the store; is the gateway's data directory right?")?;
        let school = match &args.school {
            Some(slug) => store
                .school_by_slug(slug)
                .await?
                .with_context(|| format!("there is no school {slug:?} in the store"))?,
            None => store
                .schools()
                .await?
                .into_iter()
                .next()
                .context("the store has no school yet; start the gateway once first")?,
        };
        let who = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into());
        let reader = Reader {
            actor: format!("cli:{who}"),
            from_addr: None,
            purpose: args.purpose.trim().to_string(),
        };
        let mut filter = EventFilter::school(school.id, args.limit.min(EventFilter::MAX_LIMIT));
        filter.user = args.user.clone();
        filter.client_ip = args.client;
        if args.blocked {
            filter.verdict = Some(Verdict::Block);
        }
        let events = store.read_events(&reader, &filter).await?;
        println!(
            "time\tsource\tclient\tuser\tdevice\tgroup\tmethod\taddress\tverdict\tcategory\trule\tsearch_term\tstatus\tbytes\tpage_title"
        );
        for stored in events {
            let e = stored.event;
            let field = |v: Option<String>| v.unwrap_or_else(|| "-".into()).replace(['\t', '\n'], " ");
            println!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                e.at,
                e.source.as_str(),
                e.client_ip,
                field(e.user),
                field(e.device),
                field(e.group),
                field(e.method),
                field(e.url.or(Some(e.host))),
                e.verdict.as_str(),
                field(e.category),
                field(Some(e.rule)),
                field(e.search_term),
                field(e.status.map(|s| s.to_string())),
                field(e.bytes.map(|b| b.to_string())),
                field(e.page_title),
            );
        }
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })
}
