//! The `chaperone` command: parse the command line, load settings, start logging, hand over.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use chaperone::config::Secret;
use chaperone::config::Settings;
use chaperone::identity::Role;
use chaperone::startup::{open_database, shutdown_signal, Application};
use chaperone::{audit, backup, connections, healthcheck, identity, import, inbox, telemetry};

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
    /// List the connected platform accounts and the endpoint each platform must deliver to
    /// (prefix it with the service's public address). Secrets are never shown.
    Connections,
    /// Translate and apply again every stored platform event received since a date (events
    /// are kept for inbox.retention_days), after an upgrade that corrects how events are read.
    /// The running service picks them up; applying an event twice changes nothing.
    Reprocess {
        /// The first day (UTC) whose events are applied again, as YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        since: chrono::NaiveDate,
    },
    /// Seal every stored secret again with the current key (CHAPERONE__SECRETS__KEY), after
    /// a rotation: the old key must be listed in CHAPERONE__SECRETS__PREVIOUS_KEYS until this
    /// has run.
    Reseal,
    /// Check each school's record ledger: every entry's hash and place in the chain, the
    /// signed daily heads, and every record against its last entry. Exits 0 when all of it
    /// matches; otherwise names the first entry that does not.
    Verify {
        /// Only this school (its slug).
        #[arg(long, value_name = "SLUG")]
        school: Option<String>,
    },
    /// Check an evidence pack (a ZIP file made by the API) offline, with no database or
    /// settings: every file's integrity, the manifest's signature, the ledger entries' hashes
    /// and links, the signed head, and that the records say what the ledger says. Exits 0 and
    /// prints a summary when all of it holds; otherwise names what does not.
    VerifyPack {
        /// The pack's ZIP file.
        file: PathBuf,
    },
    /// Work with the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Work with the people who sign in.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Copy the SQLite database into a new file while the service runs (a consistent
    /// snapshot). PostgreSQL is backed up with pg_dump instead.
    Backup {
        /// The file to write; it must not exist.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Ask the service running on this machine (at CHAPERONE__SERVER__BIND) whether it is
    /// alive: exits 0 when /healthz answers 200. For container health checks.
    Healthcheck {
        /// Ask /readyz instead: every role running and the database answering.
        #[arg(long)]
        ready: bool,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Add a user with a role, such as the installation's first admin
    /// (`users add --email it@school.sch.uk --name "IT Admin" --role trust_admin`). Without
    /// --password-env the user signs in only through the school's identity provider.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// trust_admin, school_admin, dsl, deputy_dsl, staff or governor.
        #[arg(long)]
        role: String,
        /// The school (its slug) the role is held at; without it, every school.
        #[arg(long, value_name = "SLUG")]
        school: Option<String>,
        /// The environment variable holding a local password (at least 12 characters).
        #[arg(long, value_name = "VARIABLE")]
        password_env: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the audit log's hash chain from the first entry to the last: exits 0 when every
    /// entry verifies, or names the first entry altered, removed or added out of turn.
    Verify,
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
    if let Command::VerifyPack { file } = &cli.command {
        // Offline by design: no settings, no database, no logging set up.
        println!("{}", chaperone::evidence::verify::verify_file(file)?);
        return Ok(());
    }
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
            print_connections(&settings, &db).await
        }
        Command::Connections => {
            settings.validate()?;
            let (db, _) = open_database(&settings).await?;
            print_connections(&settings, &db).await
        }
        Command::Reprocess { since } => {
            settings.validate()?;
            let (db, _) = open_database(&settings).await?;
            let since = since.and_time(chrono::NaiveTime::MIN).and_utc();
            let reopened = inbox::reopen_for_translation(&db, since).await?;
            println!("{}", serde_json::to_string_pretty(&reopened)?);
            Ok(())
        }
        Command::Reseal => {
            settings.validate()?;
            let (db, keys) = open_database(&settings).await?;
            let resealed = connections::store::reseal(&db, &keys).await?
                + chaperone::alerts::links::reseal_key(&db, &keys).await?;
            eprintln!(
                "chaperone: {resealed} secrets sealed again with key {}",
                keys.current_key_id()
            );
            Ok(())
        }
        Command::Users {
            command:
                UsersCommand::Add {
                    email,
                    name,
                    role,
                    school,
                    password_env,
                },
        } => {
            add_user(
                &settings,
                &email,
                &name,
                &role,
                school.as_deref(),
                password_env.as_deref(),
            )
            .await
        }
        Command::Backup { to } => {
            settings.validate()?;
            let report = backup::backup_sqlite(&settings.database, &to).await?;
            let schema = report
                .schema_version
                .map_or_else(|| "none".to_string(), |version| version.to_string());
            eprintln!(
                "chaperone: backup written to {} ({} bytes, schema version {schema}, integrity ok); \
                 the secrets key is not in it: back the key up as well",
                report.path.display(),
                report.bytes
            );
            Ok(())
        }
        Command::Healthcheck { ready } => {
            let path = if ready { "/readyz" } else { "/healthz" };
            healthcheck::check(healthcheck::local_address(settings.server.bind), path)?;
            Ok(())
        }
        Command::VerifyPack { .. } => unreachable!("handled before the settings are loaded"),
        Command::Verify { school } => {
            settings.validate()?;
            let (db, secrets) = open_database(&settings).await?;
            verify_ledger(&db, &secrets, school.as_deref()).await
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            settings.validate()?;
            let (db, _) = open_database(&settings).await?;
            let verification = audit::verify(&db)
                .await
                .context("failed to read the audit log")?;
            match verification.broken {
                None => {
                    eprintln!(
                        "chaperone: audit log verified: {} entries, the chain is intact",
                        verification.checked
                    );
                    Ok(())
                }
                Some(broken) => anyhow::bail!(
                    "the audit log's chain is broken at entry {}: {} ({} entries before it verified)",
                    broken.id,
                    broken.problem,
                    verification.checked
                ),
            }
        }
    }
}

async fn verify_ledger(
    db: &chaperone::db::Db,
    secrets: &chaperone::secrets::SecretKeys,
    school: Option<&str>,
) -> anyhow::Result<()> {
    let school_id = match school {
        Some(slug) => Some(
            chaperone::directory::list_schools(db)
                .await?
                .into_iter()
                .find(|found| found.slug == slug)
                .with_context(|| format!("no school has the slug {slug:?}"))?
                .id,
        ),
        None => None,
    };
    let signer = chaperone::ledger::HeadSigner::new(secrets);
    let verified = chaperone::ledger::verify(db, &signer, school_id)
        .await
        .context("failed to read the ledger")?;
    let mut broken = 0;
    for school in &verified {
        match school.problems.first() {
            None => eprintln!(
                "chaperone: school {}: ledger verified: {} entries to entry {}, {} records match, {} signed heads hold{}",
                school.school_id,
                school.entries,
                school.head_seq,
                school.records_checked,
                school.signed_heads,
                match school.awaiting_ledger {
                    0 => String::new(),
                    awaiting => format!(" ({awaiting} records written since are not yet chained)"),
                }
            ),
            Some(first) => {
                broken += 1;
                eprintln!(
                    "chaperone: school {}: the ledger does not match at entry {}{}: {} ({} problems)",
                    school.school_id,
                    first.seq.map_or_else(|| "-".to_string(), |seq| seq.to_string()),
                    match (&first.record_class, &first.record_key) {
                        (Some(class), Some(key)) => format!(" ({class} {key})"),
                        _ => String::new(),
                    },
                    first.detail,
                    school.problems.len()
                );
            }
        }
    }
    if broken > 0 {
        anyhow::bail!("{broken} of {} ledgers do not verify", verified.len());
    }
    Ok(())
}

async fn add_user(
    settings: &Settings,
    email: &str,
    name: &str,
    role: &str,
    school: Option<&str>,
    password_env: Option<&str>,
) -> anyhow::Result<()> {
    settings.validate()?;
    let role = Role::parse(role).with_context(|| {
        format!(
            "unknown role {role:?}: trust_admin, school_admin, dsl, deputy_dsl, staff or governor"
        )
    })?;
    let password = match password_env {
        Some(variable) => Some(Secret::new(std::env::var(variable).with_context(|| {
            format!("the variable {variable} that --password-env names is not set")
        })?)),
        None => None,
    };
    let (db, _) = open_database(settings).await?;
    let id = identity::command::add_user(&db, email, name, role, school, password.as_ref()).await?;
    eprintln!("chaperone: user {id} added with the role {role}");
    Ok(())
}

async fn print_connections(settings: &Settings, db: &chaperone::db::Db) -> anyhow::Result<()> {
    let base = settings.server.public_url.trim_end_matches('/');
    for connection in connections::store::list(db).await? {
        let secret = if connection.webhook_secret_set {
            ""
        } else {
            " (no webhook secret: set webhook_secret_env in the import file)"
        };
        eprintln!(
            "chaperone: {} {} {} -> {base}{}{secret}",
            connection.school, connection.platform, connection.account_id, connection.endpoint
        );
    }
    Ok(())
}
