//! Power-of-two-choices least-connections balancing with endpoint weights, and fail-fast
//! parking of endpoints that keep refusing connections.
//!
//! Two candidates are drawn at random in proportion to their weights; the one with fewer live
//! connections per unit of weight wins, and on a tie the first draw wins. So an idle pool
//! spreads connections in proportion to weight, and a busy one steers away from the loaded.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// When endpoints are parked.
#[derive(Debug, Clone, Copy)]
pub struct FailFast {
    /// Whether parking is on.
    pub enabled: bool,
    /// Consecutive connect failures that park an endpoint.
    pub threshold: u32,
    /// How long a parked endpoint is skipped.
    pub penalty: Duration,
}

/// One upstream address with its load and health.
#[derive(Debug)]
pub struct Endpoint {
    addr: SocketAddr,
    weight: Mutex<f64>,
    active: AtomicUsize,
    consecutive_failures: AtomicU32,
    parked_until: Mutex<Option<Instant>>,
    connects: AtomicU64,
    failures: AtomicU64,
}

impl Endpoint {
    fn new(addr: SocketAddr, weight: f64) -> Self {
        Self {
            addr,
            weight: Mutex::new(sane_weight(weight)),
            active: AtomicUsize::new(0),
            consecutive_failures: AtomicU32::new(0),
            parked_until: Mutex::new(None),
            connects: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// The endpoint's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its weight.
    pub fn weight(&self) -> f64 {
        *self.weight.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Live connections through it.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Successful connects so far.
    pub fn connects(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
    }

    /// Failed connects so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Whether it is parked at `now`.
    pub fn is_parked(&self, now: Instant) -> bool {
        self.parked_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|until| now < until)
    }

    fn load(&self) -> f64 {
        self.active() as f64 / self.weight()
    }

    /// Counts a live connection until the guard is dropped.
    pub fn connection(self: &Arc<Self>) -> ActiveGuard {
        self.active.fetch_add(1, Ordering::Relaxed);
        ActiveGuard(self.clone())
    }

    /// Records a successful connect: the failure streak ends and the endpoint is unparked.
    pub fn record_success(&self) {
        self.connects.fetch_add(1, Ordering::Relaxed);
        self.consecutive_failures.store(0, Ordering::Relaxed);
        *self
            .parked_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Records a failed connect; returns whether this failure parked the endpoint.
    pub fn record_failure(&self, policy: FailFast, now: Instant) -> bool {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let streak = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if policy.enabled && streak >= policy.threshold {
            let mut parked = self
                .parked_until
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let was_parked = parked.is_some_and(|until| now < until);
            *parked = Some(now + policy.penalty);
            // After the penalty one more failure parks it again at once.
            self.consecutive_failures
                .store(policy.threshold.saturating_sub(1), Ordering::Relaxed);
            return !was_parked;
        }
        false
    }
}

/// Keeps an endpoint's live-connection count up while held.
#[derive(Debug)]
pub struct ActiveGuard(Arc<Endpoint>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

fn sane_weight(weight: f64) -> f64 {
    if weight.is_finite() && weight > 0.0 {
        weight
    } else {
        // A zero or negative weight would divide by zero; treat it as "almost never".
        1e-6
    }
}

/// The endpoints of one destination name.
#[derive(Debug)]
pub struct Balancer {
    name: String,
    endpoints: RwLock<Arc<Vec<Arc<Endpoint>>>>,
    resolved: std::sync::atomic::AtomicBool,
    policy: FailFast,
}

impl Balancer {
    /// An empty balancer for `name`.
    pub fn new(name: &str, policy: FailFast) -> Self {
        Self {
            name: name.to_owned(),
            endpoints: RwLock::new(Arc::new(Vec::new())),
            resolved: std::sync::atomic::AtomicBool::new(false),
            policy,
        }
    }

    /// The destination name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fail-fast policy.
    pub fn policy(&self) -> FailFast {
        self.policy
    }

    /// Whether discovery has answered at least once.
    pub fn is_resolved(&self) -> bool {
        self.resolved.load(Ordering::Relaxed)
    }

    /// The current endpoints.
    pub fn endpoints(&self) -> Arc<Vec<Arc<Endpoint>>> {
        self.endpoints
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the endpoint set. Endpoints that stay keep their load and health.
    pub fn update(&self, addrs: &[(SocketAddr, f64)]) {
        let current = self.endpoints();
        let next: Vec<Arc<Endpoint>> = addrs
            .iter()
            .map(
                |&(addr, weight)| match current.iter().find(|e| e.addr == addr) {
                    Some(existing) => {
                        *existing
                            .weight
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner) = sane_weight(weight);
                        existing.clone()
                    }
                    None => Arc::new(Endpoint::new(addr, weight)),
                },
            )
            .collect();
        if next.len() != current.len()
            || next
                .iter()
                .any(|e| !current.iter().any(|c| Arc::ptr_eq(c, e)))
        {
            tracing::info!(name = %self.name, endpoints = next.len(), "endpoint set changed");
        }
        *self
            .endpoints
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
        self.resolved.store(true, Ordering::Relaxed);
    }

    /// Picks an endpoint, skipping parked ones and those in `tried` (unless nothing else is
    /// left: when every endpoint is parked, all are tried).
    pub fn pick(&self, tried: &[SocketAddr], now: Instant) -> Option<Arc<Endpoint>> {
        let all = self.endpoints();
        let untried: Vec<&Arc<Endpoint>> =
            all.iter().filter(|e| !tried.contains(&e.addr)).collect();
        let healthy: Vec<&Arc<Endpoint>> = untried
            .iter()
            .copied()
            .filter(|e| !e.is_parked(now))
            .collect();
        let pool = if !healthy.is_empty() {
            healthy
        } else if !untried.is_empty() {
            untried
        } else {
            all.iter().collect()
        };
        let first = weighted_draw(&pool)?;
        let second = weighted_draw(&pool)?;
        if second.load() < first.load() {
            Some(second.clone())
        } else {
            Some(first.clone())
        }
    }
}

fn weighted_draw<'a>(pool: &[&'a Arc<Endpoint>]) -> Option<&'a Arc<Endpoint>> {
    let total: f64 = pool.iter().map(|e| e.weight()).sum();
    let mut point = fastrand::f64() * total;
    for endpoint in pool {
        point -= endpoint.weight();
        if point < 0.0 {
            return Some(endpoint);
        }
    }
    pool.last().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    const POLICY: FailFast = FailFast {
        enabled: true,
        threshold: 2,
        penalty: Duration::from_secs(5),
    };

    #[test]
    fn idle_pool_follows_weights() {
        let b = Balancer::new("/svc/x", POLICY);
        b.update(&[(addr(1), 1.0), (addr(2), 3.0)]);
        let now = Instant::now();
        let heavy = (0..4000)
            .filter(|_| b.pick(&[], now).unwrap().addr() == addr(2))
            .count();
        assert!((2700..3300).contains(&heavy), "heavy got {heavy} of 4000");
    }

    #[test]
    fn busy_endpoint_is_avoided() {
        let b = Balancer::new("/svc/x", POLICY);
        b.update(&[(addr(1), 1.0), (addr(2), 1.0)]);
        let busy = b.endpoints()[0].clone();
        let _guards: Vec<_> = (0..10).map(|_| busy.connection()).collect();
        let now = Instant::now();
        let to_busy = (0..1000)
            .filter(|_| b.pick(&[], now).unwrap().addr() == addr(1))
            .count();
        // Only when both draws hit the busy one (a quarter of the time).
        assert!(to_busy < 350, "busy endpoint got {to_busy} of 1000");
    }

    #[test]
    fn failing_endpoint_is_parked_then_retried() {
        let b = Balancer::new("/svc/x", POLICY);
        b.update(&[(addr(1), 1.0), (addr(2), 1.0)]);
        let bad = b.endpoints()[0].clone();
        let now = Instant::now();
        assert!(!bad.record_failure(POLICY, now));
        assert!(bad.record_failure(POLICY, now));
        for _ in 0..200 {
            assert_eq!(b.pick(&[], now).unwrap().addr(), addr(2));
        }
        let later = now + Duration::from_secs(6);
        assert!(!bad.is_parked(later));
        assert!((0..200).any(|_| b.pick(&[], later).unwrap().addr() == addr(1)));
    }

    #[test]
    fn all_parked_tries_all() {
        let b = Balancer::new("/svc/x", POLICY);
        b.update(&[(addr(1), 1.0)]);
        let now = Instant::now();
        let only = b.endpoints()[0].clone();
        only.record_failure(POLICY, now);
        only.record_failure(POLICY, now);
        assert!(only.is_parked(now));
        assert_eq!(b.pick(&[], now).unwrap().addr(), addr(1));
    }

    #[test]
    fn update_keeps_state() {
        let b = Balancer::new("/svc/x", POLICY);
        b.update(&[(addr(1), 1.0)]);
        let guard = b.endpoints()[0].connection();
        b.update(&[(addr(1), 2.0), (addr(2), 1.0)]);
        assert_eq!(b.endpoints()[0].active(), 1);
        assert_eq!(b.endpoints()[0].weight(), 2.0);
        drop(guard);
        assert!(b.pick(&[addr(1), addr(2)], Instant::now()).is_some());
        b.update(&[]);
        assert!(b.pick(&[], Instant::now()).is_none());
    }
}
