//! The `chaperone` command: parse the command line, load settings, start logging, hand over.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use chaperone::config::Settings;
use chaperone::startup::{open_database, shutdown_signal, Application};
use chaperone::{import, telemetry};

/// chaperone watches online one-to-one calls between school staff and pupils, keeps the
/// attendance register, and checks every call against the school's safeguarding policy.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// A TOML settings file applied over the defaults (environment variables
    /// CHAPERONE__SECTION__KEY still override it).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: receive webhooks, process events, serve the API. Applies pending
    /// database migrations first. Stops gracefully on SIGTERM or ctrl-c.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Load schools, their Zoom accounts and people from a TOML file
    /// (see config/example-school.toml), or people from a CSV export with --school.
    /// Running the same import twice changes nothing.
    Import {
        /// A .toml school file or a .csv of people.
        file: PathBuf,
        /// The school (its slug) a CSV of people belongs to.
        #[arg(long, value_name = "SLUG")]
        school: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("chaperone: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    telemetry::init(&settings.log);
    telemetry::log_panics_without_data();
    match cli.command {
        Command::Serve => {
            settings.validate_for_serve()?;
            let application = Application::build(settings).await?;
            application.run_until(shutdown_signal()).await
        }
        Command::Migrate => {
            settings.validate()?;
            open_database(&settings).await?;
            eprintln!("chaperone: database is up to date");
            Ok(())
        }
        Command::Import { file, school } => {
            settings.validate()?;
            let (db, secrets) = open_database(&settings).await?;
            let report = import::import_path(&db, &secrets, &file, school.as_deref())
                .await
                .with_context(|| {
                    format!("import of {} failed; nothing was changed", file.display())
                })?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
    }
}
