//! The command line: `serve`, `check-config`, and admin helpers that let an operator bootstrap
//! without curl.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use mobile_branch::{
    clock::SystemClock,
    config::{Settings, Sources},
    domain::{BranchId, Language},
    platform::Platforms,
    service::{Services, branches::NewBranch},
    startup::{Application, shutdown_signal},
    store::{Store, jobs::RecordList},
    telemetry,
};

/// mobile-branch: a party branch's group life in the chat apps its members use.
#[derive(Debug, Parser)]
#[command(version, about)]
pub(crate) struct Cli {
    /// Configuration file layered over the embedded defaults.
    #[arg(long, global = true, env = "MOBILE_BRANCH_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve webhooks and the admin API.
    Serve,
    /// Print the effective configuration (secrets masked); exit non-zero naming every bad key.
    CheckConfig,
    /// Branch administration.
    #[command(subcommand)]
    Branch(BranchCommand),
    /// The outbox of proactive messages.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Timed jobs.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Admin API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Issue a token (printed once).
    Issue {
        /// region or branch.
        #[arg(long, value_parser = ["region", "branch"])]
        scope: String,
        /// The branch, for --scope branch.
        #[arg(long)]
        branch: Option<String>,
        /// Lifetime, e.g. 30d (default: until revoked).
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// Revoke a token by id.
    Revoke {
        /// Token id (tok_…).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum OutboxCommand {
    /// List dead-lettered messages.
    Dead,
    /// Put a dead-lettered message back in its chat's queue.
    Retry {
        /// Message id (from `outbox dead`).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// List jobs skipped because they were missed beyond their grace.
    Skipped,
    /// List jobs that failed for good.
    Failed,
}

#[derive(Debug, Subcommand)]
enum BranchCommand {
    /// Create a branch and print its first bind code.
    Create(CreateBranch),
    /// Issue a new single-use bind code for a branch.
    BindCode {
        /// Branch id.
        id: String,
        /// For the committee chat.
        #[arg(long)]
        committee: bool,
    },
    /// List branches.
    List,
}

#[derive(Debug, Args)]
struct CreateBranch {
    /// Branch name.
    #[arg(long)]
    name: String,
    /// IANA time zone.
    #[arg(long, default_value = "Asia/Shanghai")]
    timezone: String,
    /// Reply language: zh or en.
    #[arg(long, default_value = "zh", value_parser = ["zh", "en"])]
    language: String,
}

impl Cli {
    /// Runs the chosen command.
    pub(crate) async fn run(self) -> anyhow::Result<ExitCode> {
        let sources = Sources {
            file: self.config.as_deref(),
            overlay: None,
            env: true,
        };
        if let Command::CheckConfig = self.command {
            return Ok(check_config(&sources));
        }
        let settings = Settings::load(&sources).map_err(|e| anyhow::anyhow!("{e}"))?;
        match self.command {
            Command::Serve => serve(settings).await,
            Command::Branch(cmd) => branch(settings, cmd).await,
            Command::Outbox(cmd) => outbox(settings, cmd).await,
            Command::Jobs(cmd) => jobs(settings, cmd).await,
            Command::Token(cmd) => token(settings, cmd).await,
            Command::CheckConfig => Ok(ExitCode::SUCCESS),
        }
    }
}

fn check_config(sources: &Sources<'_>) -> ExitCode {
    match Settings::load(sources) {
        Ok(settings) => {
            let mut problems = Vec::new();
            // Building the adapters checks each bot as `serve` would; no connection is made.
            match Store::new(&settings.redis) {
                Ok(store) => {
                    if let Err(e) = Platforms::from_settings(&settings, &store) {
                        problems.push(e.to_string());
                    }
                }
                Err(e) => problems.push(format!("redis: {e}")),
            }
            match toml::to_string_pretty(&settings) {
                Ok(text) => println!("{text}"),
                Err(e) => problems.push(format!("cannot print configuration: {e}")),
            }
            if problems.is_empty() {
                eprintln!("configuration is valid");
                ExitCode::SUCCESS
            } else {
                eprintln!("invalid configuration:");
                for p in problems {
                    eprintln!("  {p}");
                }
                ExitCode::from(2)
            }
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<ExitCode> {
    telemetry::init(&settings.log);
    let app = Application::build(settings)
        .await
        .context("failed to start")?;
    tracing::info!(addr = %app.local_addr(), version = env!("CARGO_PKG_VERSION"), "listening");
    app.run_until_stopped(shutdown_signal())
        .await
        .context("server failed")?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

async fn outbox(settings: Settings, cmd: OutboxCommand) -> anyhow::Result<ExitCode> {
    let store = Store::new(&settings.redis).context("redis configuration")?;
    match cmd {
        OutboxCommand::Dead => {
            // Page by page: there may be `outbox.dead_letter_cap` of them.
            const PAGE: usize = 200;
            let mut shown = 0;
            loop {
                let (dead, _) = store
                    .dead_messages(shown, PAGE)
                    .await
                    .context("failed to read dead letters")?;
                for m in &dead {
                    let error = m.last_error.as_deref().unwrap_or("-");
                    println!(
                        "{}	{}	{}	{}	{error}",
                        m.id,
                        m.bot,
                        m.chat_id,
                        m.queued_at.to_rfc3339()
                    );
                }
                shown += dead.len();
                if dead.len() < PAGE {
                    break;
                }
            }
            eprintln!("{shown} dead messages");
        }
        OutboxCommand::Retry { id } => {
            if store
                .revive_message(&id, chrono::Utc::now())
                .await
                .context("failed to retry")?
            {
                store.audit(None, "cli", "outbox.retry", &id).await.ok();
                println!("{id} is queued again");
            } else {
                eprintln!("no dead message {id}");
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn token(settings: Settings, cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    let store = Store::new(&settings.redis).context("redis configuration")?;
    let services = Services::new(
        store,
        std::sync::Arc::new(SystemClock),
        std::sync::Arc::new(settings),
    );
    match cmd {
        TokenCommand::Issue {
            scope,
            branch,
            expires_in,
        } => {
            let expires_in = expires_in
                .map(|d| humantime::parse_duration(&d).context("--expires-in takes forms like 30d"))
                .transpose()?;
            let input = mobile_branch::service::tokens::NewToken {
                scope,
                branch_id: branch,
                expires_in,
            };
            let (token, clear) = services
                .issue_token(input)
                .await
                .context("failed to issue the token")?;
            services
                .audit(None, "cli", "token.create", &token.id)
                .await
                .ok();
            println!("{clear}");
            eprintln!("token {} issued; it is shown this once", token.id);
        }
        TokenCommand::Revoke { id } => {
            if services
                .revoke_token(&id)
                .await
                .context("failed to revoke")?
            {
                services.audit(None, "cli", "token.revoke", &id).await.ok();
                eprintln!("{id} revoked");
            } else {
                eprintln!("no token {id}");
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn jobs(settings: Settings, cmd: JobsCommand) -> anyhow::Result<ExitCode> {
    let store = Store::new(&settings.redis).context("redis configuration")?;
    let list = match cmd {
        JobsCommand::Skipped => RecordList::Skipped,
        JobsCommand::Failed => RecordList::Failed,
    };
    let records = store
        .job_records(list, 1000)
        .await
        .context("failed to read jobs")?;
    for r in &records {
        println!("{}	{}	{}	{}", r.key, r.kind, r.due.to_rfc3339(), r.reason);
    }
    eprintln!("{} jobs", records.len());
    Ok(ExitCode::SUCCESS)
}

async fn branch(settings: Settings, cmd: BranchCommand) -> anyhow::Result<ExitCode> {
    let store = Store::new(&settings.redis).context("redis configuration")?;
    let services = Services::new(
        store,
        std::sync::Arc::new(SystemClock),
        std::sync::Arc::new(settings),
    );
    match cmd {
        BranchCommand::Create(c) => {
            let language = if c.language == "en" {
                Language::En
            } else {
                Language::Zh
            };
            let input = NewBranch {
                name: c.name,
                timezone: Some(c.timezone),
                language: Some(language),
            };
            let (branch, code) = services
                .create_branch(input)
                .await
                .context("failed to create the branch")?;
            services
                .audit(None, "cli", "branch.create", branch.id.as_str())
                .await
                .ok();
            println!("branch created: {} ({})", branch.id, branch.name);
            println!(
                "bind code: {} (valid until {}, single use)",
                code.code,
                code.expires_at.to_rfc3339()
            );
            println!("in the group chat, the secretary sends: 绑定 {}", code.code);
        }
        BranchCommand::BindCode { id, committee } => {
            let id = BranchId::parse(&id).context("branch ids use a-z 0-9 -")?;
            let code = services
                .issue_bind_code(&id, committee)
                .await
                .context("failed to issue a code")?;
            services
                .audit(Some(&id), "cli", "bind_code.create", "")
                .await
                .ok();
            let cmd = if committee {
                "绑定支委群"
            } else {
                "绑定"
            };
            println!(
                "bind code: {} (valid until {}, single use)",
                code.code,
                code.expires_at.to_rfc3339()
            );
            println!("in the chat, send: {cmd} {}", code.code);
        }
        BranchCommand::List => {
            let (branches, total) = services
                .list_branches(0, usize::MAX)
                .await
                .context("failed to list")?;
            for b in branches {
                println!("{}\t{}\t{}", b.id, b.timezone.name(), b.name);
            }
            eprintln!("{total} branches");
        }
    }
    Ok(ExitCode::SUCCESS)
}
