//! [`Accept`]: the server side before a session exists. It sniffs plaintext from TLS, reads the
//! ClientHello and picks a site by SNI.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use crate::hello::{ClientHello, HelloError, HelloReader, CONTENT_TYPE_HANDSHAKE};
use crate::{AcceptPolicy, Error, Session};

/// TLS alert descriptions used when refusing a ClientHello (RFC 8446, section 6).
mod alert {
    pub(super) const UNEXPECTED_MESSAGE: u8 = 10;
    pub(super) const HANDSHAKE_FAILURE: u8 = 40;
    pub(super) const DECODE_ERROR: u8 = 50;
    pub(super) const UNRECOGNIZED_NAME: u8 = 112;
    pub(super) const NO_APPLICATION_PROTOCOL: u8 = 120;
}

/// What [`Accept`] decided about a connection.
#[derive(Debug)]
pub enum Decision {
    /// The first bytes are not TLS and the policy serves plaintext; `buffered` holds every byte
    /// read so far, to be replayed to the application.
    Plaintext {
        /// The bytes already read from the connection.
        buffered: Vec<u8>,
    },
    /// A ClientHello was read and a site chosen; the session has consumed every byte read so
    /// far. Drain its `poll_transmit` and carry on.
    Tls(Box<Session>),
}

/// Why a connection was refused before a session started.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RejectReason {
    /// The first bytes are not TLS and the policy does not serve plaintext.
    PlaintextNotAllowed,
    /// No site matches the client's SNI (`None`: the client sent no SNI) and there is no default.
    UnknownServerName(Option<String>),
    /// The client offered ALPN protocols, none of which the chosen site speaks.
    NoCommonAlpn {
        /// What the client offered.
        offered: Vec<Vec<u8>>,
    },
    /// The ClientHello could not be decoded.
    MalformedClientHello(HelloError),
    /// rustls refused the ClientHello (no common version or cipher suite, for example).
    Handshake(Error),
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PlaintextNotAllowed => {
                f.write_str("client did not start TLS and plaintext is not allowed")
            }
            Self::UnknownServerName(Some(name)) => {
                write!(f, "no certificate for server name {name:?}")
            }
            Self::UnknownServerName(None) => {
                f.write_str("client sent no server name and there is no default certificate")
            }
            Self::NoCommonAlpn { offered } => {
                let names: Vec<_> = offered.iter().map(|p| String::from_utf8_lossy(p)).collect();
                write!(f, "no common ALPN protocol (client offered {names:?})")
            }
            Self::MalformedClientHello(e) => write!(f, "malformed ClientHello: {e}"),
            Self::Handshake(e) => write!(f, "handshake refused: {e}"),
        }
    }
}

/// A refused connection: the reason, and the alert bytes to send before closing.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// Why the connection was refused.
    pub reason: RejectReason,
    /// A TLS alert record telling the peer why; send it, then close.
    pub alert: Vec<u8>,
    /// The client's SNI, when the ClientHello got that far.
    pub server_name: Option<String>,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.reason.fmt(f)
    }
}

impl std::error::Error for Rejection {}

/// A fatal alert as a plaintext TLS record, as sent before any keys exist.
fn alert_record(description: u8) -> Vec<u8> {
    vec![0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description]
}

/// Reads the first bytes of a server connection and decides what it is.
///
/// ```no_run
/// # fn policy() -> std::sync::Arc<tlswire_core::AcceptPolicy> { unimplemented!() }
/// # fn read_some() -> Vec<u8> { unimplemented!() }
/// use tlswire_core::{Accept, Decision};
/// let mut accept = Accept::new(policy());
/// loop {
///     match accept.handle_input(&read_some(), std::time::Instant::now()) {
///         Ok(None) => continue, // need more bytes
///         Ok(Some(Decision::Plaintext { buffered })) => { /* serve plaintext */ break }
///         Ok(Some(Decision::Tls(session))) => { /* drive the session */ break }
///         Err(rejection) => { /* send rejection.alert, close, log rejection */ break }
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Accept {
    policy: Arc<AcceptPolicy>,
    buffered: Vec<u8>,
    reader: HelloReader,
    hello: Option<ClientHello>,
}

impl Accept {
    /// Starts reading a new connection under `policy`.
    pub fn new(policy: Arc<AcceptPolicy>) -> Self {
        Self {
            policy,
            buffered: Vec::new(),
            reader: HelloReader::default(),
            hello: None,
        }
    }

    /// The ClientHello, once it has been read.
    pub fn client_hello(&self) -> Option<&ClientHello> {
        self.hello.as_ref()
    }

    /// Takes the next bytes read from the connection (all of them); returns a decision once
    /// there is enough to make one. The decision does not depend on how the bytes are split.
    pub fn handle_input(
        &mut self,
        data: &[u8],
        now: Instant,
    ) -> Result<Option<Decision>, Rejection> {
        self.buffered.extend_from_slice(data);
        let Some(looks_like_tls) = sniff(&self.buffered) else {
            return Ok(None);
        };
        if !looks_like_tls {
            if self.policy.allow_plaintext {
                let buffered = std::mem::take(&mut self.buffered);
                return Ok(Some(Decision::Plaintext { buffered }));
            }
            return Err(self.reject(RejectReason::PlaintextNotAllowed, alert::UNEXPECTED_MESSAGE));
        }
        let hello = match self
            .reader
            .read(&self.buffered, self.policy.max_client_hello)
        {
            Ok(None) => return Ok(None),
            Ok(Some(hello)) => hello,
            Err(e) => {
                let description = match e {
                    HelloError::NotHandshake | HelloError::NotClientHello => {
                        alert::UNEXPECTED_MESSAGE
                    }
                    HelloError::TooLarge => alert::HANDSHAKE_FAILURE,
                    _ => alert::DECODE_ERROR,
                };
                return Err(self.reject(RejectReason::MalformedClientHello(e), description));
            }
        };
        let server_name = hello.server_name.clone();
        self.hello = Some(hello);
        let Some(site) = self.policy.sni.lookup(server_name.as_deref()) else {
            return Err(self.reject(
                RejectReason::UnknownServerName(server_name),
                alert::UNRECOGNIZED_NAME,
            ));
        };
        let site_alpn = site.alpn();
        let offered = self
            .hello
            .as_ref()
            .map(|h| h.alpn.clone())
            .unwrap_or_default();
        if !site_alpn.is_empty()
            && !offered.is_empty()
            && !offered.iter().any(|p| site_alpn.contains(p))
        {
            return Err(self.reject(
                RejectReason::NoCommonAlpn { offered },
                alert::NO_APPLICATION_PROTOCOL,
            ));
        }
        let config = site.server_config();
        let mut session = Session::server_with_hello(config, self.hello.as_ref())
            .map_err(|e| self.reject(RejectReason::Handshake(e), alert::HANDSHAKE_FAILURE))?
            .with_limits(self.policy.limits);
        session.handle_timeout(now);
        let buffered = std::mem::take(&mut self.buffered);
        let mut fed = 0;
        while fed < buffered.len() {
            match session.handle_input(&buffered[fed..], now) {
                Ok(0) => {
                    // The session's buffers are full before the handshake even answered:
                    // refuse rather than drop the bytes that did not fit.
                    return Err(Rejection {
                        reason: RejectReason::Handshake(Error::RecordBacklogFull),
                        alert: alert_record(alert::UNEXPECTED_MESSAGE),
                        server_name,
                    });
                }
                Ok(n) => fed += n,
                Err(e) => {
                    let mut alert = Vec::new();
                    let _ = session.poll_transmit(&mut alert);
                    if alert.is_empty() {
                        // Some refusals (an unusable signing key, say) queue no alert in
                        // rustls; the peer still deserves one.
                        alert = alert_record(alert::HANDSHAKE_FAILURE);
                    }
                    return Err(Rejection {
                        reason: RejectReason::Handshake(e),
                        alert,
                        server_name,
                    });
                }
            }
        }
        Ok(Some(Decision::Tls(Box::new(session))))
    }

    fn reject(&self, reason: RejectReason, description: u8) -> Rejection {
        Rejection {
            reason,
            alert: alert_record(description),
            server_name: self.hello.as_ref().and_then(|h| h.server_name.clone()),
        }
    }
}

/// Whether the first bytes look like a TLS handshake; `None` until that can be told.
///
/// A TLS connection opens with a handshake record (0x16) whose major version is 3. Text
/// protocols start with printable bytes, so one byte usually decides and two always do.
pub fn sniff(first_bytes: &[u8]) -> Option<bool> {
    match first_bytes {
        [] => None,
        [CONTENT_TYPE_HANDSHAKE] => None,
        [CONTENT_TYPE_HANDSHAKE, major, ..] => Some(*major == 3),
        _ => Some(false),
    }
}
