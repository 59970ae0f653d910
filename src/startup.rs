//! Building and running the application: store, adapters, state, router, listener, and
//! graceful shutdown.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    clock::{Clock, SystemClock},
    config::{BotSettings, Settings, insecure_exposure, insecure_sim_bots, is_loopback},
    http,
    metrics::Metrics,
    outbox::Outbox,
    platform::{BotSetupError, Platforms},
    scheduler::Scheduler,
    service::Services,
    service::{
        checkin_digest::DigestHandler, meetings::ReminderHandler, notices::NoticeHandler,
        series::SeriesHandler, warnings::WarningHandler,
    },
    state::AppState,
    store::{Store, StoreError},
    supervisor::{RestartPolicy, Workers, supervise},
};

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A bot cannot start.
    #[error(transparent)]
    Bot(#[from] BotSetupError),
    /// The Redis configuration is unusable.
    #[error("redis configuration")]
    Store(#[from] StoreError),
    /// An insecure sim bot on an address other hosts can reach. Config validation refuses
    /// this first; this is the backstop for settings built or changed in code.
    #[error("{0}")]
    InsecureBot(String),
}

/// A built application, listening but not yet serving.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
    scheduler: Arc<Scheduler>,
    outbox: Arc<Outbox>,
    store: Store,
}

impl Application {
    /// Builds with the system clock.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Builds with a given clock (tests move time by hand).
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        let store = Store::new(&settings.redis)?;
        let platforms = Platforms::from_settings(&settings, &store)?;
        let insecure = insecure_sim_bots(&settings.bots);
        if let Some(bot) = insecure.first()
            && !is_loopback(settings.server.listen.ip())
        {
            return Err(StartupError::InsecureBot(insecure_exposure(
                bot,
                settings.server.listen,
            )));
        }
        if !insecure.is_empty() {
            tracing::warn!(bots = ?insecure, "insecure sim bots accept unauthenticated requests (served because server.listen is loopback); define your own [bots.*] for production");
        }
        // Bounded per bot (Telegram's getMe: a few seconds); never fails the startup.
        platforms.prepare().await;
        let addr = settings.server.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr, source })?;
        let platforms = Arc::new(platforms);
        let services = Services::new(store.clone(), clock, Arc::new(settings));
        let mut scheduler = Scheduler::new(
            store.clone(),
            services.clock.clone(),
            services.settings.scheduler.clone(),
        );
        // Every job kind is registered here, so the scheduler never imports a feature.
        scheduler.register(Arc::new(NoticeHandler::new(services.clone())));
        scheduler.register(Arc::new(ReminderHandler::new(services.clone())));
        scheduler.register(Arc::new(SeriesHandler::new(services.clone())));
        scheduler.register(Arc::new(WarningHandler::new(services.clone())));
        scheduler.register(Arc::new(DigestHandler::new(services.clone())));
        let outbox = Outbox::new(
            store.clone(),
            platforms.clone(),
            services.clock.clone(),
            services.settings.outbox.clone(),
        );
        let state = AppState {
            services,
            platforms,
            metrics: Metrics::install(),
            workers: Workers::default(),
        };
        Ok(Self {
            listener,
            addr,
            state,
            scheduler: Arc::new(scheduler),
            outbox: Arc::new(outbox),
            store,
        })
    }

    /// The bound address (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state, for tests and admin helpers.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The Redis handle, for tests and benchmarks that inspect state; the request paths reach
    /// Redis only through [`Services`].
    pub fn store(&self) -> Store {
        self.store.clone()
    }

    /// This replica's scheduler (tests call `tick` on it).
    pub fn scheduler(&self) -> Arc<Scheduler> {
        self.scheduler.clone()
    }

    /// This replica's outbox worker (tests call `tick` on it).
    pub fn outbox(&self) -> Arc<Outbox> {
        self.outbox.clone()
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish for up to
    /// `server.shutdown_grace`.
    pub async fn run_until_stopped<F>(self, shutdown: F) -> std::io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let grace = self.state.services.settings.server.shutdown_grace;
        let token = CancellationToken::new();
        spawn_demo_seed(&self.state, token.clone());
        spawn_global_jobs(&self.state, token.clone());
        let settings = &self.state.services.settings;
        // Each worker runs under a supervisor that starts it again if it dies (see
        // `supervisor` for why a restart and not an exit), instead of being found dead only
        // when shutdown joins it.
        let mut workers = Vec::new();
        let health = &self.state.workers;
        if settings.scheduler.enabled {
            let (scheduler, stop) = (self.scheduler.clone(), token.clone());
            workers.push(tokio::spawn(supervise(
                "scheduler",
                health.clone(),
                RestartPolicy::default(),
                token.clone(),
                move || scheduler.clone().run(stop.clone()),
            )));
        }
        if settings.outbox.enabled {
            let (outbox, stop) = (self.outbox.clone(), token.clone());
            workers.push(tokio::spawn(supervise(
                "outbox",
                health.clone(),
                RestartPolicy::default(),
                token.clone(),
                move || outbox.clone().run(stop.clone()),
            )));
        }
        let stop = token.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutdown requested; finishing in-flight requests");
            stop.cancel();
        });
        let router = http::router(self.state.clone());
        let server = http::serve::serve(self.listener, router, &settings.server, token.clone());
        // The server drains in-flight requests while the workers finish what they hold; both
        // share one grace from the signal. Work not finished in time is freed by its lease.
        let stopped = async {
            server.await;
            futures::future::join_all(workers).await;
            Ok(())
        };
        tokio::select! {
            result = stopped => result,
            () = async { token.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(?grace, "shutdown grace elapsed; in-flight work is left to leases");
                Ok(())
            }
        }
    }
}

/// Seeds the demo branch in the background, retrying while Redis is not there yet, so that
/// the server starts (and reports not ready) without Redis.
fn spawn_demo_seed(state: &AppState, stop: CancellationToken) {
    let settings = &state.services.settings;
    let demo = &settings.demo;
    if !demo.seed || !matches!(settings.bots.get(&demo.bot), Some(BotSettings::Sim(_))) {
        return;
    }
    let services = state.services.clone();
    let (bot, chat, name) = (
        demo.bot.clone(),
        demo.chat_id.clone(),
        demo.branch_name.clone(),
    );
    tokio::spawn(async move {
        loop {
            match services.seed_demo(&bot, &chat, &name).await {
                Ok(id) => {
                    tracing::info!(branch = %id, bot, chat, "demo branch ready");
                    return;
                }
                Err(e) if e.is_unavailable() => {
                    tracing::warn!("demo seed waits for redis");
                }
                Err(e) => {
                    tracing::error!(error.cause_chain = %crate::error::Chain(&e), "demo seed failed");
                    return;
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    });
}

/// Makes sure the jobs every deployment has (the monthly early warning) exist, retrying
/// while Redis is not there yet.
fn spawn_global_jobs(state: &AppState, stop: CancellationToken) {
    if !state.services.settings.scheduler.enabled {
        return;
    }
    let services = state.services.clone();
    tokio::spawn(async move {
        loop {
            match services.ensure_warning_job().await {
                Ok(()) => return,
                Err(e) => {
                    tracing::debug!(error.cause_chain = %crate::error::Chain(&e), "global jobs wait for redis")
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    });
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error.cause_chain = %crate::error::Chain(&e), "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error.cause_chain = %crate::error::Chain(&e), "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
