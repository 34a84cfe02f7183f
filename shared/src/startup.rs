//! Building a service, one way for `serve` and for the tests (zero-to-production's
//! `Application::build` / `run_until_stopped`).
//!
//! [`Application::build`] turns what start-up parsed ([`Startup`]) into the state, binds
//! the listener and starts every background task an instance runs: the realtime
//! listener (instant revocation, socket events), the janitor (expired rate-limit
//! counters, WebSocket tickets, ID-token records) and whatever the service adds (the
//! gateway's push and Apple-revocation workers, the control center's bcrypt warm-up).
//! `serve` runs it until SIGTERM; the tests build the very same thing on port 0. Stopping
//! it, or dropping it, stops every task it started.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use poem::endpoint::BoxEndpoint;
use sqlx::PgPool;
use tokio::task::JoinHandle;

use crate::http::{EdgeConfig, Server};
use crate::state::{AppState, ServiceSettings};
use crate::tokens::Keys;
use crate::{auth, notifications, ratelimit, realtime};

/// What a service is built from: parsed and checked by `serve` (`cli::startup`) from the
/// environment, or made by a test.
pub struct Startup {
    /// For the log lines (`public-gateway`, `internal-cc`).
    pub service: &'static str,
    pub db: PgPool,
    pub keys: Keys,
    /// The service's settings (with the shared part inside).
    pub settings: ServiceSettings,
    pub edge: EdgeConfig,
    /// Port 0 picks a free port ([`Application::addr`] says which).
    pub listen: SocketAddr,
}

/// The service's routes over its state, as `public_gateway::app` and `internal_cc::app`
/// build them.
pub type Routes = fn(AppState, EdgeConfig) -> BoxEndpoint<'static>;

/// The tasks an instance runs beside its server. Dropping the set aborts them all, so a
/// task can never outlive the application that started it.
#[derive(Default)]
pub struct BackgroundTasks(Vec<(&'static str, JoinHandle<()>)>);

impl BackgroundTasks {
    pub fn spawn(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        self.0.push((name, tokio::spawn(task)));
    }

    /// The names of the tasks started, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|(name, _)| *name).collect()
    }

    /// Aborts every task and waits until each has ended.
    pub async fn stop(mut self) {
        let tasks = std::mem::take(&mut self.0);
        for (_, task) in &tasks {
            task.abort();
        }
        for (_, task) in tasks {
            let _ = task.await;
        }
    }
}

impl Drop for BackgroundTasks {
    fn drop(&mut self) {
        for (_, task) in &self.0 {
            task.abort();
        }
    }
}

/// A built service: the state, the bound listener, the routes and the background tasks.
pub struct Application {
    service: &'static str,
    server: Server,
    endpoint: Arc<BoxEndpoint<'static>>,
    state: AppState,
    tasks: BackgroundTasks,
}

impl Application {
    /// Builds the state, binds `startup.listen`, and starts the tasks every instance runs
    /// plus the service's own (`extra`, which may also log start-up warnings).
    pub async fn build(
        startup: Startup,
        routes: Routes,
        extra: impl FnOnce(&AppState, &mut BackgroundTasks) -> anyhow::Result<()>,
    ) -> anyhow::Result<Self> {
        let Startup { service, db, keys, settings, edge, listen } = startup;
        let state = AppState::with_keys(db, keys, settings);
        let mut tasks = BackgroundTasks::default();
        tasks.spawn("realtime listener", realtime::listener::run(listener(&state)));
        extra(&state, &mut tasks)?;
        let endpoint = Arc::new(routes(state.clone(), edge));
        let server = Server::bind(listen).await.with_context(|| format!("binding {listen}"))?;
        tracing::info!(service, addr = %server.addr(), "listening");
        tasks.spawn("janitor", janitor(state.db.clone()));
        Ok(Self { service, server, endpoint, state, tasks })
    }

    /// The address the listener is bound to (with the port picked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The routes `run_until_stopped` serves, for in-process test clients.
    pub fn endpoint(&self) -> Arc<BoxEndpoint<'static>> {
        self.endpoint.clone()
    }

    /// The background tasks' names, in the order they were started.
    pub fn task_names(&self) -> Vec<&'static str> {
        self.tasks.names()
    }

    /// Serves until `stop` completes: tells the sockets' apps to reconnect elsewhere, lets
    /// in-flight requests finish (up to the grace), then stops every background task.
    pub async fn run_until_stopped(self, stop: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let Self { service, server, endpoint, state, tasks } = self;
        let stop = async {
            stop.await;
            // Sockets are not requests the server waits for: tell their apps to reconnect.
            state.realtime.hub.close_all(realtime::socket::CLOSE_GOING_AWAY, "going_away");
        };
        let served = server.run_until_stopped(endpoint, stop).await;
        tasks.stop().await;
        served.context("serving")?;
        tracing::info!(service, "stopped");
        Ok(())
    }
}

/// What the realtime listener needs of an instance: its pool and sockets, and the
/// notifications module's record of what reached a socket.
pub fn listener(state: &AppState) -> realtime::listener::Context {
    realtime::listener::Context {
        db: state.db.clone(),
        realtime: state.realtime.clone(),
        on_delivered: notifications::on_delivered,
    }
}

/// Every ten minutes (and once at start), deletes what has expired: rate-limit
/// counters, WebSocket tickets, ID-token records.
async fn janitor(db: PgPool) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        if let Err(err) = ratelimit::purge_expired(&db).await {
            tracing::warn!(error = %err, "purging expired rate-limit counters failed");
        }
        if let Err(err) = auth::ticket::purge_expired(&db).await {
            tracing::warn!(error = %err, "purging expired WebSocket tickets failed");
        }
        if let Err(err) = auth::replay::purge_expired(&db).await {
            tracing::warn!(error = %err, "purging expired ID-token records failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task that holds `alive` until it is stopped.
    fn holding(alive: &Arc<()>) -> impl Future<Output = ()> + Send + 'static {
        let alive = alive.clone();
        async move {
            let _alive = alive;
            std::future::pending::<()>().await;
        }
    }

    #[tokio::test]
    async fn stopping_or_dropping_the_tasks_ends_every_one_of_them() {
        let alive = Arc::new(());
        let mut tasks = BackgroundTasks::default();
        tasks.spawn("a", holding(&alive));
        tasks.spawn("b", holding(&alive));
        tokio::task::yield_now().await;
        assert_eq!((tasks.names(), Arc::strong_count(&alive)), (vec!["a", "b"], 3));
        tasks.stop().await;
        assert_eq!(Arc::strong_count(&alive), 1, "stop waits until each task has ended");

        let mut tasks = BackgroundTasks::default();
        tasks.spawn("c", holding(&alive));
        tokio::task::yield_now().await;
        drop(tasks);
        for _ in 0..100 {
            if Arc::strong_count(&alive) == 1 {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("a dropped task set left its task running");
    }
}
