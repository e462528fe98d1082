//! The `hedgerow` command: the gateway and the tools that run beside it.
//!
//! Each subcommand lives in its own module; this file only reads the command line and reports
//! errors in words a network manager can act on.

mod activity;
mod admin;
mod admin_control;
mod agreement_gate;
mod auth;
mod blockpage;
mod ca;
mod demo;
mod dns;
mod explain;
mod gateway;
mod lists;
mod live_policy;
mod monitor;
mod monitor_cli;
mod people;
mod proxy;
mod retention;
mod selftest;
mod setup;
mod signed_in;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "hedgerow",
    version,
    about = "Filtering, monitoring and safeguarding records for schools, in one gateway."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an invented demo school and run the whole system with it.
    Demo(demo::DemoArgs),
    /// Run the gateway from a configuration file.
    Serve(ServeArgs),
    /// Say whether an address is allowed for someone, and why.
    Explain(explain::ExplainArgs),
    /// Compile and inspect category lists.
    #[command(subcommand)]
    Lists(lists::ListsCommand),
    /// Check configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Show the newest activity events (a read recorded in the audit log).
    Activity(activity::ActivityArgs),
    /// Staff accounts for the admin app.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Pupils, classes and staff from school information system exports.
    #[command(subcommand)]
    People(people::PeopleCommand),
    /// Make or show the school CA for selective HTTPS inspection.
    #[command(subcommand)]
    Ca(ca::CaCommand),
    /// Checks of filtering and monitoring (the built-in self-test).
    #[command(subcommand)]
    Check(selftest::CheckCommand),
    /// Monitoring tools: classify texts with the risk libraries.
    #[command(subcommand)]
    Monitor(monitor_cli::MonitorCommand),
}

/// Options shared by `serve` and `demo`: where data lives and what to listen on.
#[derive(Args, Clone, Debug, Default)]
pub struct RunOptions {
    /// The data directory (store, compiled index, school CA later).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// A folder of category lists to use instead of the configured ones.
    #[arg(long, value_name = "DIR")]
    pub lists: Option<PathBuf>,
    /// An upstream DNS resolver (repeatable); replaces the configured upstreams.
    #[arg(long, value_name = "ADDR:PORT")]
    pub upstream: Vec<SocketAddr>,
    /// Where the Prometheus metrics endpoint listens.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_listen: Option<SocketAddr>,
    /// Where the DNS filter listens, UDP and TCP (repeatable); replaces the configured address.
    #[arg(long, value_name = "ADDR:PORT")]
    pub dns_listen: Vec<SocketAddr>,
    /// UDP worker threads for the DNS filter (default: one per core).
    #[arg(long, value_name = "N")]
    pub dns_workers: Option<usize>,
    /// Where the web proxy listens (repeatable); replaces the configured address.
    #[arg(long, value_name = "ADDR:PORT")]
    pub proxy_listen: Vec<SocketAddr>,
    /// Where the admin web app listens; replaces the configured address.
    #[arg(long, value_name = "ADDR:PORT")]
    pub admin_listen: Option<SocketAddr>,
    /// Where the access portal listens (plain HTTP); replaces the configured address.
    #[arg(long, value_name = "ADDR:PORT")]
    pub portal_listen: Option<SocketAddr>,
}

#[derive(Args)]
struct ServeArgs {
    /// The configuration file.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    #[command(flatten)]
    run: RunOptions,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file and report every problem with its key and line.
    Check {
        /// The configuration file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Serve(args) => gateway::serve(&args.config, args.run),
        Command::Explain(args) => explain::run(args),
        Command::Lists(command) => lists::run(command),
        Command::Activity(args) => activity::run(args),
        Command::Admin(command) => admin::run(command),
        Command::Config(ConfigCommand::Check { file }) => setup::check_config(&file),
        Command::Ca(command) => ca::run(command),
        Command::Check(command) => selftest::run_command(command),
        Command::People(command) => people::run(command),
        Command::Monitor(command) => monitor_cli::run(command),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("hedgerow: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HEDGEROW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
