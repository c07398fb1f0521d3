//! `civicproof witness serve|keygen`.

use clap::{Args, Subcommand};
use std::net::TcpListener;
use std::path::PathBuf;

use crate::logs::{LogRule, Logs};
use crate::store::Store;
use crate::witness::Witness;
use crate::{http, key};

#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Serve add-checkpoint until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Create a key file and print the witness's vkey (what verifiers pin and logs configure).
    Keygen {
        /// The witness's key name, a schema-less URL such as witness.example/w1.
        #[arg(long)]
        name: String,
        /// Where to write the key (refuses to overwrite one).
        #[arg(long)]
        key_file: PathBuf,
    },
    /// Print the vkey of an existing key file.
    Vkey {
        #[arg(long)]
        name: String,
        #[arg(long)]
        key_file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The witness's key name.
    #[arg(long, env = "CIVICPROOF_WITNESS_NAME")]
    pub name: String,
    /// The key file (`civicproof witness keygen`).
    #[arg(long, env = "CIVICPROOF_WITNESS_KEY_FILE")]
    pub key_file: PathBuf,
    /// Directory of the per-origin state; keep it on durable storage and back it up.
    #[arg(long, env = "CIVICPROOF_WITNESS_STATE_DIR")]
    pub state_dir: PathBuf,
    /// A log to follow, as its signed-note vkey `<origin>+<key id>+<base64(0x01 || key)>`.
    #[arg(long = "log")]
    pub logs: Vec<String>,
    /// A civicproof instance to follow: `<prefix>=<base64 log public key>` covers every
    /// dataset origin `<prefix>/<institution>/<dataset>` it signs.
    #[arg(long = "instance")]
    pub instances: Vec<String>,
    /// Address to listen on.
    #[arg(
        long,
        default_value = "127.0.0.1:7380",
        env = "CIVICPROOF_WITNESS_LISTEN"
    )]
    pub listen: String,
}

/// Runs a witness command.
pub fn run(command: WitnessCommand) -> anyhow::Result<()> {
    let name = match &command {
        WitnessCommand::Keygen { name, .. } | WitnessCommand::Vkey { name, .. } => name,
        WitnessCommand::Serve(args) => &args.name,
    };
    anyhow::ensure!(
        civicproof_verify::note::is_valid_key_name(name),
        "witness name {name:?} is not a key name: it must be non-empty, without spaces or '+' \
         (a schema-less URL such as witness.example/w1)"
    );
    match command {
        WitnessCommand::Keygen { name, key_file } => print_vkey(&name, &key::create(&key_file)?),
        WitnessCommand::Vkey { name, key_file } => print_vkey(&name, &key::load(&key_file)?),
        WitnessCommand::Serve(args) => serve(args),
    }
}

fn print_vkey(name: &str, key: &ed25519_dalek::SigningKey) -> anyhow::Result<()> {
    let public = key.verifying_key().to_bytes();
    println!("{}", civicproof_verify::cosignature::vkey(name, &public));
    Ok(())
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut rules = Vec::new();
    for l in &args.logs {
        rules.push(LogRule::from_vkey(l).map_err(anyhow::Error::msg)?);
    }
    for i in &args.instances {
        rules.push(LogRule::from_instance(i).map_err(anyhow::Error::msg)?);
    }
    anyhow::ensure!(
        !rules.is_empty(),
        "a witness needs at least one --log or --instance to follow"
    );
    let key = key::load(&args.key_file)?;
    let store = Store::open(&args.state_dir)?;
    let witness = Witness::new(&args.name, key, Logs::new(rules), store);
    let listener = TcpListener::bind(&args.listen)?;
    tracing::info!(addr = %listener.local_addr()?, vkey = %witness.vkey(), "witness listening");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(http::run(listener, witness, shutdown_signal()))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
