//! The `smsflow` binary: `serve`, `migrate`, `accounts create`, `bench`.
#![forbid(unsafe_code)]

mod bench;
mod hubspot;
mod settings;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use settings::Settings;
use smsflow_core::clock::SystemClock;
use smsflow_engine::{AccountInput, Engine, EngineConfig, NumberInput, UserInput};
use smsflow_providers::{HttpGateway, Provider};
use smsflow_server::{router, AppState};
use smsflow_store::Store;
use std::sync::Arc;

/// mimalloc instead of glibc's malloc: the engine allocates and frees
/// many small values per message (property maps, rendered bodies, JSON),
/// and glibc's allocator was a quarter of a dry run's CPU (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Automated, two-way SMS from CRM workflows.
#[derive(Parser)]
#[command(name = "smsflow", version)]
struct Cli {
    /// Optional TOML file with the same keys as the flags (database_url, listen, …).
    #[arg(long, global = true, env = "SMSFLOW_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// sqlite://FILE (default sqlite://smsflow.db) or postgres://…
    #[arg(long, global = true, env = "SMSFLOW_DATABASE_URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API and the worker (or one of them with --role).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "SMSFLOW_LISTEN")]
        listen: Option<String>,
        /// `all` (API and worker), `api` or `worker`.
        #[arg(long, env = "SMSFLOW_ROLE")]
        role: Option<String>,
        /// URL of a generic HTTP SMS gateway; numbers with provider `http` use it.
        #[arg(long, env = "SMSFLOW_HTTP_GATEWAY_URL")]
        http_gateway_url: Option<String>,
        /// The URL providers reach this server at, for webhook URLs
        /// (default: http://LISTEN).
        #[arg(long, env = "SMSFLOW_PUBLIC_URL")]
        public_url: Option<String>,
    },
    /// Create or upgrade the database schema and exit.
    Migrate,
    /// Manage accounts.
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// Measure the whole pipeline against a local fake provider.
    Bench(bench::BenchArgs),
    /// HubSpot's "Send SMS" custom workflow action.
    Hubspot {
        #[command(subcommand)]
        command: hubspot::HubspotCommand,
    },
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Create an account and print its API token.
    Create {
        #[arg(long)]
        name: String,
        /// Enable the `sms` entitlement.
        #[arg(long, default_value_t = true)]
        sms: bool,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SMSFLOW_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref(), cli.database_url.clone())?;
    match cli.command {
        Command::Serve {
            listen,
            role,
            http_gateway_url,
            public_url,
        } => {
            let listen = listen
                .or(settings.listen.clone())
                .unwrap_or_else(|| "127.0.0.1:8080".into());
            let role = role
                .or(settings.role.clone())
                .unwrap_or_else(|| "all".into());
            let gateway = http_gateway_url.or(settings.http_gateway_url.clone());
            let public_url = public_url
                .or(settings.public_url.clone())
                .unwrap_or_else(|| format!("http://{listen}"));
            serve(&settings, &listen, &role, gateway, public_url).await
        }
        Command::Migrate => {
            Store::connect(&settings.database_url)
                .await
                .context("migrating")?;
            println!("database at {} is up to date", settings.redacted_url());
            Ok(())
        }
        Command::Accounts {
            command: AccountsCommand::Create { name, sms },
        } => {
            let engine = engine(&settings, None, EngineConfig::default()).await?;
            let out = engine
                .create_account(AccountInput {
                    name: Some(name.into()),
                    entitlements: Some(serde_json::json!({ "sms": sms })),
                    ..Default::default()
                })
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("account {} created\ntoken: {}", out.account.id, out.token);
            Ok(())
        }
        Command::Bench(args) => bench::run(args, cli.database_url.clone()).await,
        Command::Hubspot { command } => {
            let public_url = settings.public_url.clone().unwrap_or_else(|| {
                format!(
                    "http://{}",
                    settings
                        .listen
                        .clone()
                        .unwrap_or_else(|| "127.0.0.1:8080".into())
                )
            });
            hubspot::run(command, &public_url).await
        }
    }
}

async fn engine(
    settings: &Settings,
    gateway: Option<String>,
    config: EngineConfig,
) -> Result<Engine> {
    let store = Store::connect(&settings.database_url)
        .await
        .with_context(|| format!("opening database {}", settings.redacted_url()))?;
    let mut providers: Vec<Arc<dyn Provider>> = Vec::new();
    if let Some(url) = gateway {
        let url = smsflow_providers::http_url(&url)
            .with_context(|| format!("the HTTP gateway URL `{url}` is not an http(s) URL"))?;
        // SMSFLOW_HTTP_GATEWAY_TIMEOUT_MS bounds each gateway request (default 30 s).
        let timeout =
            env_ms("SMSFLOW_HTTP_GATEWAY_TIMEOUT_MS").unwrap_or(std::time::Duration::from_secs(30));
        providers.push(Arc::new(HttpGateway::with_timeout(
            url,
            std::env::var("SMSFLOW_HTTP_GATEWAY_TOKEN").ok(),
            timeout,
        )));
    }
    Ok(Engine::with_providers(
        store,
        Arc::new(SystemClock),
        config,
        providers,
    ))
}

async fn serve(
    settings: &Settings,
    listen: &str,
    role: &str,
    gateway: Option<String>,
    public_url: String,
) -> Result<()> {
    // SMSFLOW_LEASE_MS: how long a dead node's work stays leased (default 60 s).
    let mut config = EngineConfig {
        public_url,
        ..EngineConfig::default()
    };
    if let Some(lease) = env_ms("SMSFLOW_LEASE_MS") {
        config.lease = lease;
    }
    let engine = engine(settings, gateway, config).await?;
    let run_api = matches!(role, "all" | "api");
    let run_worker = matches!(role, "all" | "worker");
    anyhow::ensure!(run_api || run_worker, "--role must be all, api or worker");
    let bootstrap = first_start(&engine).await?;
    let admin_token = match std::env::var("SMSFLOW_ADMIN_TOKEN") {
        Ok(t) if !t.is_empty() => t,
        _ => {
            let t = format!("sfa_{:032x}", rand::random::<u128>());
            eprintln!("server admin token (set SMSFLOW_ADMIN_TOKEN to choose one): {t}");
            t
        }
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = run_worker.then(|| {
        let engine = engine.clone();
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            engine
                .run(async move {
                    let _ = rx.changed().await;
                })
                .await
        })
    });
    let signal = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("signal handler");
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
    };
    if run_api {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let addr = listener.local_addr()?;
        if let Some((token, number)) = &bootstrap {
            println!("smsflow is ready at http://{addr}");
            println!("  account token: {token}");
            println!("  sandbox number: {number}");
            println!("  try: curl -H 'Authorization: Bearer {token}' http://{addr}/api/v1/numbers");
        } else {
            println!("smsflow listening on http://{addr}");
        }
        let app = router(AppState::new(engine.clone(), &admin_token));
        axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await?;
    } else {
        println!("smsflow worker running");
        signal.await;
    }
    let _ = stop_tx.send(true);
    if let Some(w) = worker {
        let _ = w.await;
        // The round in progress is finished; give back what is still leased
        // so other nodes take it over at once.
        match engine.release_leases().await {
            Ok(n) => tracing::info!(released = n, "worker stopped"),
            Err(e) => {
                tracing::warn!(error = %e, "could not release leases; they expire on their own")
            }
        }
    }
    engine.store().close().await;
    Ok(())
}

fn env_ms(name: &str) -> Option<std::time::Duration> {
    std::env::var(name)
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(std::time::Duration::from_millis)
}

/// On an empty database: an account with SMS enabled, a user, and a sandbox
/// number linked to the user, so a newcomer can send at once.
async fn first_start(engine: &Engine) -> Result<Option<(String, String)>> {
    if engine.store().count_accounts().await? > 0 {
        return Ok(None);
    }
    let err = |e: smsflow_engine::EngineError| anyhow::anyhow!("{e}");
    let out = engine
        .create_account(AccountInput {
            name: Some("My company".into()),
            entitlements: Some(serde_json::json!({"sms": true})),
            ..Default::default()
        })
        .await
        .map_err(err)?;
    let account = &out.account.id;
    let user = engine
        .create_user(
            account,
            UserInput {
                name: Some("Sandbox Agent".into()),
                email: Some("agent@example.com".into()),
            },
        )
        .await
        .map_err(err)?;
    let number = engine
        .create_number(
            account,
            NumberInput {
                e164: Some("+14155550100".into()),
                label: Some("Sandbox".into()),
                provider: Some("sandbox".into()),
                capabilities: Some(serde_json::json!({"sms": true, "mms": false, "voice": false})),
                user_ids: Some(serde_json::json!([user.id])),
                throughput: None,
            },
        )
        .await
        .map_err(err)?;
    Ok(Some((
        out.token,
        format!(
            "{} ({}), linked to user {}",
            number.e164, number.id, user.id
        ),
    )))
}
