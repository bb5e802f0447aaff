//! The metrics endpoint: `GET /metrics` on a thread of its own
//! (`tiny_http`), so a scrape never waits for the event loop nor the loop
//! for a scrape. Anything else is a 404.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use prometheus_client::registry::Registry;
use tiny_http::{Header, Response, Server};

/// The content type of the text format prometheus-client writes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A running endpoint; dropping it stops the thread.
pub struct MetricsServer {
    server: Arc<Server>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

impl MetricsServer {
    /// Listens on `addr` and serves `registry`.
    pub fn start(addr: SocketAddr, registry: Registry) -> std::io::Result<MetricsServer> {
        let server = Arc::new(Server::http(addr).map_err(std::io::Error::other)?);
        let bound = server.server_addr().to_ip().unwrap_or(addr);
        let serving = server.clone();
        let thread =
            std::thread::Builder::new().name("metrics".into()).spawn(move || serve(&serving, &registry))?;
        Ok(MetricsServer { server, thread: Some(thread), addr: bound })
    }

    /// Where it listens (the port the kernel chose for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(server: &Server, registry: &Registry) {
    let content_type = Header::from_bytes("Content-Type", CONTENT_TYPE).ok();
    for request in server.incoming_requests() {
        let response = match (request.method(), request.url()) {
            (tiny_http::Method::Get, "/metrics") => {
                let body = Response::from_string(super::encode(registry));
                match content_type.clone() {
                    Some(header) => body.with_header(header),
                    None => body,
                }
            }
            _ => Response::from_string("not found: metrics are at /metrics\n").with_status_code(404),
        };
        if let Err(e) = request.respond(response) {
            tracing::debug!(target: "metrics", error = %e, "cannot answer a scrape");
        }
    }
}
