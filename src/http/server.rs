//! The HTTP server loop: accepts connections and serves the router on each
//! with hyper, within limits a hostile or unlucky client cannot stretch
//! (issue 15): a deadline for the request head (slowloris), at most
//! `max_connections` at once (one more is answered 503 and closed), and a
//! bounded graceful stop — in-flight requests get `grace` to finish (every
//! queued batch is still committed by the ingestion worker), then stalled
//! or idle connections are closed. Knows nothing of the routes.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// The server's limits (`serve --header-timeout`, `--max-connections`,
/// `--shutdown-grace`).
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// A request head (request line and headers) must arrive within this.
    pub header_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// After the stop signal, how long in-flight requests may still run.
    pub grace: Duration,
}

impl ServerLimits {
    /// The limits `serve`'s options set.
    pub fn of(args: &crate::config::LimitArgs) -> ServerLimits {
        use crate::config::std_duration;
        ServerLimits {
            header_timeout: std_duration(args.header_timeout),
            max_connections: args.max_connections as usize,
            grace: std_duration(args.shutdown_grace),
        }
    }
}

/// What a connection over the limit is told before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 82\r\n\r\n{\"error\":{\"message\":\"too many connections; retry after Retry-After\",\"details\":[]}}";

/// Serves `app` on `listener` until `stop` resolves, then stops within
/// `limits.grace`: no new connections, open ones told to close after their
/// current request, and whatever is still open after the grace dropped.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (closing, closing_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(stop);
    loop {
        let (stream, _peer) = tokio::select! {
            _ = &mut stop => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // EMFILE and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            connections.spawn(refuse_busy(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let mut closing = closing_rx.clone();
        connections.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                _ = stopping(&mut closing) => {
                    // Finish the request in flight, then close.
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = closing.send(true);
    let open = connections.len();
    let drained = tokio::time::timeout(limits.grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            of = open,
            grace_s = limits.grace.as_secs_f64(),
            "closing connections still open after the shutdown grace"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Resolves once the server is stopping.
async fn stopping(closing: &mut watch::Receiver<bool>) {
    while !*closing.borrow_and_update() {
        if closing.changed().await.is_err() {
            return;
        }
    }
}

/// Answers 503 to a connection over the limit, without reading it.
async fn refuse_busy(mut stream: tokio::net::TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(BUSY).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busy_answer_declares_its_exact_length() {
        let text = std::str::from_utf8(BUSY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        assert!(serde_json::from_str::<serde_json::Value>(body).is_ok());
    }
}
