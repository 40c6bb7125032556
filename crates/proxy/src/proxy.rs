//! Starting a proxy from its configuration, running it, and draining it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::admin::{self, AdminState};
use crate::balancer::{Balancer, FailFast};
use crate::config::{ClientConfig, Config, InterpreterConfig, RouterConfig};
use crate::listener::{Listener, Route, Target, Upstream};
use crate::metrics::Metrics;
use crate::reload::Reloader;
use crate::tickets::FileTicketer;
use crate::tls_setup::{self, UpstreamTls};

/// A running proxy.
pub struct Proxy {
    admin_addr: SocketAddr,
    listen_addrs: Vec<(String, SocketAddr)>,
    metrics: Arc<Metrics>,
    reloader: Arc<Reloader>,
    shutdown: watch::Sender<bool>,
    force: watch::Sender<bool>,
    grace: Duration,
}

/// Why a proxy could not start: the key or file at fault and the reason.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

fn upstream(
    client: &ClientConfig,
    connect_timeout_ms: Option<u64>,
    reloader: &Reloader,
    key: &str,
) -> Result<Arc<Upstream>, String> {
    let tls = match &client.tls {
        Some(tls) => Some(tls_setup::upstream_tls(
            tls,
            reloader,
            &format!("{key}.tls"),
        )?),
        None => None,
    };
    Ok(Arc::new(Upstream {
        tls,
        connect_timeout: Duration::from_millis(
            connect_timeout_ms.unwrap_or(client.connect_timeout_ms),
        ),
        attempts: client.connect_attempts,
        proxy_protocol: client.proxy_protocol,
    }))
}

fn fail_fast(client: &ClientConfig) -> FailFast {
    FailFast {
        enabled: client.fail_fast,
        threshold: client.failure_threshold.max(1),
        penalty: Duration::from_millis(client.penalty_ms),
    }
}

/// Destination names and their balancers within one router.
struct Balancers<'a> {
    router: &'a RouterConfig,
    key: String,
    by_name: HashMap<String, Arc<Balancer>>,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
    /// The TLS client for an `https://` namerd, shared by the router's names.
    namerd_tls: Option<Arc<UpstreamTls>>,
}

impl Balancers<'_> {
    fn get(&mut self, name: &str, client: &ClientConfig) -> Result<Arc<Balancer>, String> {
        if let Some(b) = self.by_name.get(name) {
            return Ok(b.clone());
        }
        let balancer = Arc::new(Balancer::new(name, fail_fast(client)));
        crate::discovery::spawn(
            &self.router.interpreter,
            balancer.clone(),
            self.shutdown.clone(),
            self.namerd_tls.clone(),
        )
        .map_err(|e| format!("{}.{e}", self.key))?;
        self.metrics.track(balancer.clone());
        self.by_name.insert(name.to_owned(), balancer.clone());
        Ok(balancer)
    }
}

impl Proxy {
    /// Binds every listener and the admin server and starts serving. Call inside a tokio
    /// runtime.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let metrics = Metrics::new();
        let reloader = Arc::new(Reloader::new(metrics.clone()));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (force, force_rx) = watch::channel(false);
        let ticketer = match &config.session_tickets {
            Some(t) => {
                let ticketer = Arc::new(
                    FileTicketer::load(&t.keys_path, t.lifetime_secs)
                        .map_err(|e| StartError(format!("sessionTickets.keysPath: {e}")))?,
                );
                let watched = ticketer.clone();
                reloader.watch(
                    "tickets",
                    "sessionTickets".into(),
                    vec![t.keys_path.clone()],
                    move || watched.reload(),
                );
                Some(ticketer)
            }
            None => None,
        };

        let mut listeners = Vec::new();
        let mut all_balancers = Vec::new();
        for (r, router) in config.routers.iter().enumerate() {
            let router_key = format!("routers[{r}]");
            let namerd_tls = match &router.interpreter {
                InterpreterConfig::Namerd { tls: Some(tls), .. } => Some(
                    tls_setup::upstream_tls(
                        tls,
                        &reloader,
                        &format!("{router_key}.interpreter.tls"),
                    )
                    .map_err(StartError)?,
                ),
                _ => None,
            };
            let mut balancers = Balancers {
                router,
                key: router_key.clone(),
                by_name: HashMap::new(),
                metrics: metrics.clone(),
                shutdown: shutdown_rx.clone(),
                namerd_tls,
            };
            for (s, server) in router.servers.iter().enumerate() {
                let key = format!("{router_key}.servers[{s}]");
                let default_target = Arc::new(Target {
                    balancer: balancers
                        .get(&server.dst_name, &router.client)
                        .map_err(StartError)?,
                    upstream: upstream(
                        &router.client,
                        server.connect_timeout_ms,
                        &reloader,
                        &format!("{router_key}.client"),
                    )
                    .map_err(StartError)?,
                });
                let mut routes = Vec::new();
                for (i, route) in server.routes.iter().enumerate() {
                    let client = route.client.as_ref().unwrap_or(&router.client);
                    let client_key = match &route.client {
                        Some(_) => format!("{key}.routes[{i}].client"),
                        None => format!("{router_key}.client"),
                    };
                    routes.push(Route {
                        sni: route.sni.clone(),
                        alpn: route.alpn.as_ref().map(|a| a.as_bytes().to_vec()),
                        plaintext: route.plaintext,
                        target: Arc::new(Target {
                            balancer: balancers.get(&route.dst_name, client).map_err(StartError)?,
                            upstream: upstream(
                                client,
                                server.connect_timeout_ms,
                                &reloader,
                                &client_key,
                            )
                            .map_err(StartError)?,
                        }),
                    });
                }
                let handshake_timeout = Duration::from_millis(server.handshake_timeout_ms);
                let tls = match &server.tls {
                    Some(tls) => Some(
                        tls_setup::listener_tls(
                            tls,
                            handshake_timeout,
                            ticketer.clone(),
                            &reloader,
                            &format!("{key}.tls"),
                        )
                        .map_err(StartError)?,
                    ),
                    None => None,
                };
                let addr = SocketAddr::new(server.ip, server.port);
                let socket = TcpListener::bind(addr)
                    .await
                    .map_err(|e| StartError(format!("{key}: cannot listen on {addr}: {e}")))?;
                let bound = socket
                    .local_addr()
                    .map_err(|e| StartError(format!("{key}: {e}")))?;
                let label = format!("{}/{bound}", router.label);
                let listener = Arc::new(Listener {
                    label: label.clone(),
                    tls,
                    routes,
                    default_target,
                    connections: Arc::new(Semaphore::new(server.max_concurrency)),
                    handshakes: Arc::new(Semaphore::new(server.max_concurrent_handshakes)),
                    handshake_timeout,
                    idle_timeout: server.idle_timeout_secs.map(Duration::from_secs),
                    lifetime: server.connection_lifetime_secs.map(Duration::from_secs),
                    metrics: metrics.clone(),
                });
                listeners.push((label, bound, listener, socket));
            }
            all_balancers.extend(balancers.by_name.into_values());
        }

        let admin_addr = SocketAddr::new(config.admin.ip, config.admin.port);
        let admin_socket = TcpListener::bind(admin_addr)
            .await
            .map_err(|e| StartError(format!("admin: cannot listen on {admin_addr}: {e}")))?;
        let admin_addr = admin_socket
            .local_addr()
            .map_err(|e| StartError(format!("admin: {e}")))?;
        let draining = Arc::new(AtomicBool::new(false));
        let ready_draining = draining.clone();
        let admin_state = Arc::new(AdminState {
            metrics: metrics.clone(),
            ready: Box::new(move || {
                !ready_draining.load(Ordering::Relaxed)
                    && all_balancers.iter().all(|b| b.is_resolved())
            }),
            shutdown: shutdown.clone(),
        });
        tokio::spawn(admin::serve(admin_socket, admin_state));

        let mut listen_addrs = Vec::new();
        for (label, bound, listener, socket) in listeners {
            tracing::info!(listener = %label, addr = %bound, tls = listener.tls.is_some(), "listening");
            listen_addrs.push((label, bound));
            tokio::spawn(listener.serve(socket, shutdown_rx.clone(), force_rx.clone()));
        }
        let mut drain_watch = shutdown_rx.clone();
        tokio::spawn(async move {
            let _ = drain_watch.wait_for(|stop| *stop).await;
            draining.store(true, Ordering::Relaxed);
        });
        if config.reload.interval_ms > 0 {
            let (reloader, period) = (
                reloader.clone(),
                Duration::from_millis(config.reload.interval_ms),
            );
            let mut stop = shutdown_rx.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        () = tokio::time::sleep(period) => { reloader.check(false); }
                        _ = stop.wait_for(|s| *s) => break,
                    }
                }
            });
        }
        if config.admin.metrics_interval_secs > 0 {
            let (m, period) = (
                metrics.clone(),
                Duration::from_secs(config.admin.metrics_interval_secs),
            );
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(period).await;
                    tracing::info!(
                        active = m.active(),
                        handshakes = m.handshake_count(),
                        refused = m.refused_count(),
                        "metrics"
                    );
                }
            });
        }
        tracing::info!(%admin_addr, "admin server listening");
        Ok(Self {
            admin_addr,
            listen_addrs,
            metrics,
            reloader,
            shutdown,
            force,
            grace: Duration::from_secs(config.admin.grace_secs),
        })
    }

    /// The admin server's address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Every listener's label (`router/addr`) and bound address, in configuration order.
    pub fn listen_addrs(&self) -> &[(String, SocketAddr)] {
        &self.listen_addrs
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Reloads every certificate, key, trust bundle and ticket-key file now (what SIGHUP
    /// does); returns how many reloads failed.
    pub fn reload(&self) -> usize {
        self.reloader.check(true)
    }

    /// Starts a graceful drain: listeners stop accepting; live connections go on.
    pub fn begin_shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Waits for a shutdown request (from [`begin_shutdown`](Self::begin_shutdown) or
    /// `POST /shutdown`), then drains: waits up to `graceSecs` for live connections to
    /// finish and closes the rest.
    pub async fn wait(self) {
        let mut shutdown = self.shutdown.subscribe();
        let _ = shutdown.wait_for(|stop| *stop).await;
        tracing::info!(
            active = self.metrics.active(),
            grace_secs = self.grace.as_secs(),
            "draining"
        );
        let deadline = tokio::time::Instant::now() + self.grace;
        while self.metrics.active() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if self.metrics.active() > 0 {
            tracing::warn!(
                active = self.metrics.active(),
                "grace period over; closing the rest"
            );
            let _ = self.force.send(true);
            let settle = tokio::time::Instant::now() + Duration::from_secs(1);
            while self.metrics.active() > 0 && tokio::time::Instant::now() < settle {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        tracing::info!("drained");
    }
}

/// Runs the proxy described by the file at `path` until SIGTERM, SIGINT or `POST /shutdown`,
/// reloading files on SIGHUP. Builds its own multi-threaded tokio runtime.
pub fn run(path: &Path) -> Result<(), StartError> {
    let config = Config::load(path).map_err(|e| StartError(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| StartError(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let proxy = Proxy::start(config)
            .await
            .map_err(|e| StartError(format!("{}: {e}", path.display())))?;
        let shutdown = proxy.shutdown.clone();
        let reloader = proxy.reloader.clone();
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(|e| StartError(format!("signals: {e}")))?;
        let mut int = signal(SignalKind::interrupt()).map_err(|e| StartError(format!("signals: {e}")))?;
        let mut hup = signal(SignalKind::hangup()).map_err(|e| StartError(format!("signals: {e}")))?;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = term.recv() => { tracing::info!("SIGTERM: draining"); let _ = shutdown.send(true); }
                    _ = int.recv() => { tracing::info!("SIGINT: draining"); let _ = shutdown.send(true); }
                    _ = hup.recv() => {
                        tracing::info!("SIGHUP: reloading files");
                        reloader.check(true);
                    }
                }
            }
        });
        proxy.wait().await;
        Ok(())
    })
}
