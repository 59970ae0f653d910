//! The accept loop. `axum::serve` has no header-read timeout and no connection cap, so the
//! server drives hyper's HTTP/1 connections itself: at most `server.max_connections` at once
//! (the next connection waits in the listen backlog until one closes), each cut off when a
//! request's headers take longer than `server.header_read_timeout` to arrive (slow senders),
//! which also closes keep-alive connections idle that long, so that idle ones cannot hold
//! every slot. Shutdown stops accepting, lets in-flight requests finish and closes idle
//! connections.

use std::{sync::Arc, time::Duration};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::sync::CancellationToken;

use crate::config::ServerSettings;

/// Serves `router` on `listener` until `stop` is cancelled, then waits for the connections
/// it has to finish (the caller bounds that wait with its grace).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: &ServerSettings,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout);
    let graceful = GracefulShutdown::new();
    loop {
        // A free slot before the accept: a connection over the cap is not refused, it waits
        // in the kernel's backlog, as a burst from a platform should.
        let slot = tokio::select! {
            () = stop.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(&e, &stop).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A client that goes away, or one cut off by the header timeout, ends here.
            if let Err(e) = connection.await {
                tracing::debug!(error.cause_chain = %crate::error::Chain(&e), "connection closed with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// A failed accept: one client's trouble is skipped at once; anything else (out of file
/// descriptors) is logged and waited out briefly rather than spun on.
async fn accept_failed(e: &std::io::Error, stop: &CancellationToken) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::error!(error.cause_chain = %crate::error::Chain(e), "accept failed; retrying in 1 s");
    tokio::select! {
        () = stop.cancelled() => {}
        () = tokio::time::sleep(Duration::from_secs(1)) => {}
    }
}
