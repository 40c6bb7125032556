//! One listener: accepting, limiting, TLS termination, routing, the upstream connection and the
//! relay between the two.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tlswire_core::PeerInfo;
use tlswire_tokio::{AcceptError, EofPolicy, LazyAcceptor, Sniffed};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use crate::balancer::{Balancer, Endpoint};
use crate::config::ProxyProtocolVersion;
use crate::metrics::{cause, Metrics};
use crate::relay::Relay;
use crate::tls_setup::{ListenerTls, UpstreamTls};

/// A byte stream of either kind, boxed so plaintext, TLS and replayed streams relay alike.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// How connections to one destination are made.
#[derive(Debug)]
pub(crate) struct Upstream {
    pub(crate) tls: Option<Arc<UpstreamTls>>,
    pub(crate) connect_timeout: Duration,
    pub(crate) attempts: u32,
    pub(crate) proxy_protocol: Option<ProxyProtocolVersion>,
}

/// A destination: its endpoints and how to reach them.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) balancer: Arc<Balancer>,
    pub(crate) upstream: Arc<Upstream>,
}

/// A routing rule; unset fields match anything.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) sni: Option<String>,
    pub(crate) alpn: Option<Vec<u8>>,
    pub(crate) plaintext: Option<bool>,
    pub(crate) target: Arc<Target>,
}

impl Route {
    fn matches(&self, tls: Option<&PeerInfo>) -> bool {
        if let Some(plaintext) = self.plaintext {
            if plaintext != tls.is_none() {
                return false;
            }
        }
        if let Some(pattern) = &self.sni {
            let Some(sni) = tls.and_then(|p| p.sni.as_deref()) else {
                return false;
            };
            if !sni_matches(pattern, sni) {
                return false;
            }
        }
        if let Some(alpn) = &self.alpn {
            if tls.and_then(|p| p.alpn.as_ref()) != Some(alpn) {
                return false;
            }
        }
        true
    }
}

fn sni_matches(pattern: &str, sni: &str) -> bool {
    let (pattern, sni) = (pattern.to_ascii_lowercase(), sni.to_ascii_lowercase());
    match pattern.strip_prefix("*.") {
        Some(domain) => sni
            .split_once('.')
            .is_some_and(|(label, parent)| !label.is_empty() && parent == domain),
        None => pattern == sni,
    }
}

/// Everything one listening socket needs to serve a connection.
#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) label: String,
    pub(crate) tls: Option<ListenerTls>,
    pub(crate) routes: Vec<Route>,
    pub(crate) default_target: Arc<Target>,
    pub(crate) connections: Arc<Semaphore>,
    pub(crate) handshakes: Arc<Semaphore>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) lifetime: Option<Duration>,
    pub(crate) metrics: Arc<Metrics>,
}

impl Listener {
    /// Accepts until `shutdown`; each connection ends when done or when `force` is raised.
    pub(crate) async fn serve(
        self: Arc<Self>,
        socket: TcpListener,
        mut shutdown: watch::Receiver<bool>,
        force: watch::Receiver<bool>,
    ) {
        // Out of descriptors, accept fails about 50 times a second: log the first failure,
        // then at most one line a second saying how many were not logged.
        let mut last_accept_warning: Option<tokio::time::Instant> = None;
        let mut unlogged_accept_failures = 0u64;
        loop {
            let accepted = tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => break,
                accepted = socket.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Usually out of descriptors; pausing lets connections finish.
                    let now = tokio::time::Instant::now();
                    if last_accept_warning.is_none_or(|t| now - t >= Duration::from_secs(1)) {
                        tracing::warn!(
                            listener = %self.label,
                            unlogged = unlogged_accept_failures,
                            "accept failed: {e}"
                        );
                        last_accept_warning = Some(now);
                        unlogged_accept_failures = 0;
                    } else {
                        unlogged_accept_failures += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            self.metrics.accepted();
            let Ok(permit) = self.connections.clone().try_acquire_owned() else {
                self.metrics.refused();
                tracing::debug!(listener = %self.label, %peer, "refused: at maxConcurrency");
                drop(tcp);
                continue;
            };
            let this = self.clone();
            let force = force.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let _active = this.metrics.active_guard();
                this.handle(tcp, peer, force).await;
            });
        }
        tracing::info!(listener = %self.label, "stopped accepting");
    }

    async fn handle(&self, tcp: TcpStream, peer: SocketAddr, mut force: watch::Receiver<bool>) {
        let _ = tcp.set_nodelay(true);
        let work = self.serve_connection(tcp, peer);
        let outcome = tokio::select! {
            outcome = maybe_timeout(self.lifetime, work) => outcome,
            _ = force.wait_for(|f| *f) => Some(Err(cause::DRAIN)),
        };
        let failure = match outcome {
            Some(Ok(())) => return,
            Some(Err(failure)) => failure,
            None => cause::LIFETIME,
        };
        tracing::debug!(listener = %self.label, %peer, cause = failure, "connection ended");
        self.metrics.failed(failure);
    }

    async fn serve_connection(&self, tcp: TcpStream, peer: SocketAddr) -> Result<(), &'static str> {
        let local = tcp.local_addr().map_err(|_| cause::RELAY)?;
        let (client, tls_info): (Box<dyn Stream>, Option<PeerInfo>) = match &self.tls {
            None => (Box::new(tcp), None),
            Some(tls) => {
                let start = Instant::now();
                let deadline = tokio::time::Instant::from_std(start + self.handshake_timeout);
                // A proxy relays what it got and lets the application protocol judge a
                // missing close_notify, hence the lenient end of stream.
                let acceptor =
                    LazyAcceptor::new(tls.policy.clone()).with_eof_policy(EofPolicy::Lenient);
                // The sniff and the handshake are boxed: whatever is held here inline stays
                // part of this connection's future for its whole life (the future is as large
                // as its largest state), and a handshake becomes a stream of the same size.
                let sniff = Box::pin(acceptor.sniff(tcp));
                let sniffed = match tokio::time::timeout_at(deadline, sniff)
                    .await
                    .map_err(|_| cause::HANDSHAKE_TIMEOUT)?
                    .map_err(|e| match e {
                        AcceptError::Rejected(rejection) => {
                            tracing::info!(%peer, sni = ?rejection.server_name, "refused: {rejection}");
                            cause::REJECTED
                        }
                        _ => cause::HANDSHAKE,
                    })? {
                    Sniffed::Tls(handshake) => Ok(Box::pin(handshake)),
                    Sniffed::Plaintext(plain) => Err(plain),
                };
                match sniffed {
                    Err(plain) => (Box::new(plain), None),
                    Ok(handshake) => {
                        // The expensive part is bounded; reading hellos is not.
                        let _permit = tokio::time::timeout_at(deadline, self.handshakes.acquire())
                            .await
                            .map_err(|_| cause::HANDSHAKE_TIMEOUT)?
                            .map_err(|_| cause::HANDSHAKE)?;
                        let mut conn = tokio::time::timeout_at(deadline, handshake)
                            .await
                            .map_err(|_| cause::HANDSHAKE_TIMEOUT)?
                            .map(Box::new)
                            .map_err(|e| {
                                tracing::debug!(%peer, "client handshake failed: {e}");
                                cause::HANDSHAKE
                            })?;
                        self.metrics.handshake(start.elapsed());
                        let info = conn.peer();
                        let acl = tls.acls.lookup(info.sni.as_deref(), &tls.identities);
                        if let Some(acl) = acl {
                            if !acl.allows(info.certificates.first()) {
                                tracing::info!(%peer, sni = ?info.sni, "client certificate refused by the ACL");
                                let _ = conn.shutdown().await;
                                return Err(cause::ACL);
                            }
                        }
                        (conn, Some(info))
                    }
                }
            }
        };
        let target = self
            .routes
            .iter()
            .find(|r| r.matches(tls_info.as_ref()))
            .map_or(&self.default_target, |r| &r.target);
        let (upstream_tcp, endpoint) = connect(target).await?;
        let _load = endpoint.connection();
        let upstream = target.upstream.as_ref();
        let mut upstream_tcp = upstream_tcp;
        if let Some(version) = upstream.proxy_protocol {
            let header = crate::proxy_protocol::header(version, peer, local, tls_info.as_ref());
            upstream_tcp
                .write_all(&header)
                .await
                .map_err(|_| cause::UPSTREAM_CONNECT)?;
        }
        let upstream_stream: Box<dyn Stream> = match &upstream.tls {
            None => Box::new(upstream_tcp),
            Some(tls) => {
                let handshake = Box::pin(tls.connect(upstream_tcp));
                let conn = tokio::time::timeout(upstream.connect_timeout, handshake)
                    .await
                    .map_err(|_| cause::UPSTREAM_TLS)?
                    .map_err(|e| {
                        tracing::warn!(upstream = %endpoint.addr(), "upstream TLS handshake failed: {e}");
                        cause::UPSTREAM_TLS
                    })?;
                Box::new(conn)
            }
        };
        relay(client, upstream_stream, self.idle_timeout, &self.metrics).await
    }
}

async fn maybe_timeout<F: std::future::Future>(
    limit: Option<Duration>,
    work: F,
) -> Option<F::Output> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, work).await.ok(),
        None => Some(work.await),
    }
}

async fn connect(target: &Target) -> Result<(TcpStream, Arc<Endpoint>), &'static str> {
    let balancer = &target.balancer;
    let policy = balancer.policy();
    let mut tried = Vec::new();
    for _ in 0..target.upstream.attempts {
        let now = Instant::now();
        let Some(endpoint) = balancer.pick(&tried, now) else {
            return Err(cause::NO_ENDPOINTS);
        };
        tried.push(endpoint.addr());
        let attempt = tokio::time::timeout(
            target.upstream.connect_timeout,
            TcpStream::connect(endpoint.addr()),
        )
        .await;
        match attempt {
            Ok(Ok(tcp)) => {
                endpoint.record_success();
                let _ = tcp.set_nodelay(true);
                return Ok((tcp, endpoint));
            }
            Ok(Err(e)) => tracing::debug!(upstream = %endpoint.addr(), "connect failed: {e}"),
            Err(_) => tracing::debug!(upstream = %endpoint.addr(), "connect timed out"),
        }
        if endpoint.record_failure(policy, Instant::now()) {
            tracing::warn!(
                dst = balancer.name(),
                upstream = %endpoint.addr(),
                penalty_ms = policy.penalty.as_millis() as u64,
                "endpoint parked after consecutive connect failures"
            );
        }
    }
    Err(cause::UPSTREAM_CONNECT)
}

/// Copies both ways until both sides are done (see [`Relay`]), closing idle connections.
async fn relay(
    mut client: Box<dyn Stream>,
    mut upstream: Box<dyn Stream>,
    idle: Option<Duration>,
    metrics: &Metrics,
) -> Result<(), &'static str> {
    let started = Instant::now();
    let activity = idle.map(|_| Arc::new(AtomicU64::new(0)));
    let (to_upstream, to_client) = metrics.byte_totals();
    let mut relay = Relay::new(&mut *client, &mut *upstream, started, activity.clone())
        .with_totals(to_upstream, to_client);
    let result = match (idle, &activity) {
        (Some(idle), Some(activity)) => {
            let check = (idle / 4).max(Duration::from_millis(10));
            loop {
                tokio::select! {
                    done = &mut relay => break done.map_err(|_| cause::RELAY),
                    () = tokio::time::sleep(check) => {
                        let last = Duration::from_millis(activity.load(Ordering::Relaxed));
                        if started.elapsed().saturating_sub(last) >= idle {
                            break Err(cause::IDLE);
                        }
                    }
                }
            }
        }
        _ => (&mut relay).await.map_err(|_| cause::RELAY),
    };
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sni_patterns() {
        assert!(sni_matches("*.example.test", "a.example.test"));
        assert!(!sni_matches("*.example.test", "example.test"));
        assert!(!sni_matches("*.example.test", "a.b.example.test"));
        assert!(sni_matches("API.example.test", "api.EXAMPLE.test"));
    }
}
