//! The `civicproof` binary: `serve`, `migrate`, `openapi`, `graphql-sdl`, `admin …`, `monitor`,
//! and the HTTP client commands `publish`, `datasets`, `get` (in `civicproof_api::client`).

use anyhow::Context;
use civicproof_api::Config;
use civicproof_api::auth::{new_token, token_hash};
use clap::{Parser, Subcommand};
use std::net::TcpListener;

#[derive(Parser)]
#[command(
    name = "civicproof",
    version,
    about = "Append-only, verifiable open data for cities"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server until SIGINT or SIGTERM, then drain and exit 0.
    Serve {
        #[command(flatten)]
        config: Box<Config>,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        #[arg(
            long,
            env = "DATABASE_URL",
            default_value = civicproof_schema::pool::DEFAULT_SQLITE_PATH
        )]
        database_url: String,
    },
    /// Print the OpenAPI document (what `openapi/openapi.json` holds).
    Openapi,
    /// Print the GraphQL SDL (what `openapi/schema.graphql` holds).
    GraphqlSdl,
    /// Administrative tasks run against the database directly.
    Admin {
        #[arg(
            long,
            env = "DATABASE_URL",
            default_value = civicproof_schema::pool::DEFAULT_SQLITE_PATH
        )]
        database_url: String,
        #[command(subcommand)]
        task: AdminTask,
    },
    /// Anchoring for operators: `status` (batches in flight, the active halt and its
    /// evidence) and `resume` (re-checks the chain, then clears a halt).
    Anchor {
        #[arg(
            long,
            env = "DATABASE_URL",
            default_value = civicproof_schema::pool::DEFAULT_SQLITE_PATH
        )]
        database_url: String,
        #[command(subcommand)]
        task: AnchorTask,
    },
    /// Audit an instance's anchored history against your own chain endpoint (no database; the
    /// checks live in civicproof-verify's `monitor` module).
    Monitor(civicproof_verify::monitor::command::MonitorArgs),
    /// Run a C2SP tlog-witness (`serve`), or make its key (`keygen`, `vkey`).
    #[command(subcommand)]
    Witness(civicproof_witness::command::WitnessCommand),
    /// `publish`, `datasets`, `get`: an HTTP client of any civicproof server.
    #[command(flatten)]
    Client(civicproof_api::client::ClientCommand),
}

#[derive(Subcommand)]
enum AnchorTask {
    /// Where anchoring stands; exits 1 while it is halted.
    Status {
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Read the chain again and clear the active halt if the chain and the database agree;
    /// exits 1 (leaving the halt) when they still disagree.
    Resume {
        /// Who clears the halt, recorded with it (default: $USER@hostname).
        #[arg(long)]
        by: Option<String>,
        #[command(flatten)]
        settings: civicproof_api::anchor::settings::AnchorSettings,
    },
}

#[derive(Subcommand)]
enum AdminTask {
    /// Issue an admin token stored (hashed) in the database; the token is printed once, on
    /// stdout, and its id on stderr.
    IssueAdminToken {
        #[arg(long)]
        label: Option<String>,
    },
    /// List the admin tokens (id, label, created, revoked; never the tokens).
    ListAdminTokens {
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an admin token by id; running servers refuse it at once and close its streams
    /// within a second.
    RevokeAdminToken { id: uuid::Uuid },
}

fn main() -> anyhow::Result<()> {
    let _ = dotenvy::dotenv();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,actix_server=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(*config),
        Command::Migrate { database_url } => {
            let mut conn = connect(&database_url)?;
            let applied =
                civicproof_schema::run_migrations(&mut conn).map_err(|e| anyhow::anyhow!(e))?;
            eprintln!("applied {} migration(s)", applied.len());
            Ok(())
        }
        Command::Openapi => {
            print!("{}", civicproof_api::openapi::document_json());
            Ok(())
        }
        Command::Monitor(args) => {
            std::process::exit(i32::from(civicproof_verify::monitor::command::run(&args)))
        }
        Command::Witness(command) => civicproof_witness::command::run(command),
        Command::Client(command) => std::process::exit(i32::from(civicproof_api::client::run(
            command,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr(),
        ))),
        Command::GraphqlSdl => {
            print!("{}", civicproof_api::graphql::sdl());
            Ok(())
        }
        Command::Anchor { database_url, task } => anchor(&database_url, task),
        Command::Admin { database_url, task } => match task {
            AdminTask::IssueAdminToken { label } => {
                let mut conn = connect(&database_url)?;
                let token = new_token();
                let hash = token_hash(&token);
                let issued_id = uuid::Uuid::new_v4();
                civicproof_schema::queries::tokens::insert(
                    &mut conn,
                    &civicproof_schema::models::NewToken {
                        id: issued_id,
                        token_hash: &hash,
                        role: civicproof_schema::domain::Role::Admin,
                        institution_id: None,
                        label: label.as_deref(),
                    },
                )?;
                println!("{token}");
                eprintln!("admin token id {id}", id = issued_id);
                Ok(())
            }
            AdminTask::ListAdminTokens { json } => {
                let rows =
                    civicproof_schema::queries::tokens::list_admin(&mut connect(&database_url)?)?;
                if json {
                    let list: Vec<_> = rows
                        .iter()
                        .map(|t| {
                            serde_json::json!({"id": t.id, "label": t.label, "created_at": t.created_at,
                                               "revoked_at": t.revoked_at})
                        })
                        .collect();
                    println!("{}", serde_json::Value::from(list));
                } else {
                    for t in rows {
                        println!(
                            "{}  {}  created {}  {}",
                            t.id,
                            t.label.as_deref().unwrap_or("-"),
                            t.created_at.to_rfc3339(),
                            t.revoked_at.map_or("active".to_owned(), |r| format!(
                                "revoked {}",
                                r.to_rfc3339()
                            ))
                        );
                    }
                }
                Ok(())
            }
            AdminTask::RevokeAdminToken { id } => {
                let mut conn = connect(&database_url)?;
                if civicproof_schema::queries::tokens::admin_by_id(&mut conn, id)?.is_none() {
                    anyhow::bail!("no admin token has id {id}");
                }
                let t = civicproof_schema::queries::tokens::revoke_and_announce(&mut conn, id)?;
                tracing::warn!(token_id = %id, "admin token revoked");
                println!(
                    "revoked admin token {id} at {}",
                    t.revoked_at.map(|r| r.to_rfc3339()).unwrap_or_default()
                );
                Ok(())
            }
        },
    }
}

fn anchor(database_url: &str, task: AnchorTask) -> anyhow::Result<()> {
    use civicproof_api::anchor::operator::{self, Resumed};
    match task {
        AnchorTask::Status { json } => {
            let s = operator::status(&mut connect(database_url)?)?;
            if json {
                println!("{s:#}");
            } else {
                print!("{}", operator::status_text(&s));
            }
            if s["halted"] == true {
                std::process::exit(1);
            }
            Ok(())
        }
        AnchorTask::Resume { by, settings } => {
            let by = by.unwrap_or_else(|| {
                format!(
                    "{}@{}",
                    std::env::var("USER").unwrap_or_else(|_| "operator".into()),
                    std::fs::read_to_string("/etc/hostname")
                        .map(|h| h.trim().to_owned())
                        .unwrap_or_else(|_| "localhost".into())
                )
            });
            let pool = civicproof_schema::connect(database_url, 2)
                .map_err(|e| anyhow::anyhow!("DATABASE_URL: {e}"))?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            match runtime.block_on(operator::resume(&pool, &settings, &by))? {
                Resumed::NotHalted => println!("anchoring is not halted: nothing to resume"),
                Resumed::Cleared { reason, evidence } => {
                    println!(
                        "halt cleared: {reason}
the chain agrees: {evidence}"
                    );
                }
                Resumed::Refused {
                    reason,
                    disagreement,
                } => {
                    eprintln!(
                        "the halt stays: the chain still disagrees with the database
                           halted for: {reason}
  now: {disagreement}"
                    );
                    std::process::exit(1);
                }
            }
            Ok(())
        }
    }
}

fn connect(url: &str) -> anyhow::Result<civicproof_schema::Conn> {
    civicproof_schema::establish(url).context("connecting to the database")
}

fn serve(config: Config) -> anyhow::Result<()> {
    let listener =
        TcpListener::bind(config.bind).with_context(|| format!("binding {}", config.bind))?;
    tracing::info!(addr = %listener.local_addr()?, "civicproof listening");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let shutdown = async {
            let ctrl_c = tokio::signal::ctrl_c();
            #[cfg(unix)]
            {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                        .expect("installing a SIGTERM handler");
                tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
            }
            #[cfg(not(unix))]
            {
                let _ = ctrl_c.await;
            }
        };
        civicproof_api::run(listener, config, shutdown).await
    })
}
