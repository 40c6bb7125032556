//! The entry points of `tlswire-core` that the fuzz targets call, one function per target.
//!
//! This file is shared: the fuzz crate compiles it as a module, and
//! `crates/core/tests/fuzz_corpus_replay.rs` includes it with `#[path]` to replay every checked-in
//! corpus file through the very same code, so `cargo test` covers the corpora without cargo-fuzz.
//! It may only use what both sides have: `tlswire-core` and `rustls`.
//!
//! Certificates are fixed (`fuzz/certs`, valid until 2126) so a recorded input means the same
//! thing on every run. Each function panics only when an invariant of the core is broken; the
//! fuzzer reports that panic as a crash.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tlswire_core::rustls::{ClientConfig, ServerConfig};
use tlswire_core::{
    certified_key, certs_from_pem, private_key_from_pem, roots_from_pem, sniff, Accept,
    AcceptPolicy, ClientAuth, ClientOptions, Decision, Event, ReloadableIdentity, ServerTrust,
    Session, Site, SiteOptions, SniPolicy, TlsVersions,
};

/// The fixed test PKI: a CA, a server certificate for `localhost`, `127.0.0.1` and
/// `*.example.test`, and a client certificate.
pub const CA_PEM: &[u8] = include_bytes!("../certs/ca.crt");
/// The server certificate.
pub const SERVER_CERT_PEM: &[u8] = include_bytes!("../certs/server.crt");
/// The server key (PKCS#8, P-256).
pub const SERVER_KEY_PEM: &[u8] = include_bytes!("../certs/server.key");
/// The client certificate.
pub const CLIENT_CERT_PEM: &[u8] = include_bytes!("../certs/client.crt");
/// The client key (PKCS#8, P-256).
pub const CLIENT_KEY_PEM: &[u8] = include_bytes!("../certs/client.key");

/// Every configuration the targets use, built once per process.
pub struct Fixture {
    /// Clients trusting the CA and presenting the client certificate, offering `h2`, by version
    /// (both, 1.2 only, 1.3 only).
    pub clients: [Arc<ClientConfig>; 3],
    /// Servers: no client auth, required client auth (1.2 only), optional client auth (1.3 only).
    pub servers: [Arc<ServerConfig>; 3],
    /// Sites by SNI: `localhost` (no client auth), `*.example.test` (mutual TLS, ALPN `h2`), and
    /// a default; plaintext refused.
    pub accept_tls_only: Arc<AcceptPolicy>,
    /// The same sites with plaintext allowed and no default site.
    pub accept_plaintext: Arc<AcceptPolicy>,
}

/// The fixture, built on first use.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build_fixture)
}

fn build_fixture() -> Fixture {
    let source = Path::new("fuzz/certs");
    let roots = Arc::new(roots_from_pem(CA_PEM, source).expect("fixed CA"));
    let identity = |cert: &[u8], key: &[u8]| {
        certified_key(
            certs_from_pem(cert, source).expect("fixed cert"),
            private_key_from_pem(key, source).expect("fixed key"),
            source,
            source,
        )
        .expect("fixed identity")
    };
    let client_identity = identity(CLIENT_CERT_PEM, CLIENT_KEY_PEM);
    let client = |versions| {
        ClientOptions::new(ServerTrust::Roots(roots.clone()))
            .with_identity(client_identity.clone())
            .with_alpn(["h2"])
            .with_versions(versions)
            .build()
            .expect("client config")
    };
    let server_identity = ReloadableIdentity::new(identity(SERVER_CERT_PEM, SERVER_KEY_PEM));
    let site = |auth: ClientAuth, alpn: &[&str], versions| {
        Site::new(
            server_identity.clone(),
            SiteOptions::default()
                .with_client_auth(auth)
                .with_alpn(alpn.iter().copied())
                .with_versions(versions),
        )
        .expect("site")
    };
    let plain = site(ClientAuth::None, &[], TlsVersions::Both);
    let mtls = site(
        ClientAuth::Required(roots.clone()),
        &["h2"],
        TlsVersions::Tls12Only,
    );
    let optional = site(
        ClientAuth::Optional(roots.clone()),
        &["h2", "http/1.1"],
        TlsVersions::Tls13Only,
    );
    let mut sni = SniPolicy::new();
    sni.insert("localhost", plain.clone()).expect("exact name");
    sni.insert("*.example.test", mtls.clone())
        .expect("wildcard");
    let with_plaintext = AcceptPolicy::new(sni.clone()).allow_plaintext(true);
    sni.set_default(optional.clone());
    Fixture {
        clients: [
            client(TlsVersions::Both),
            client(TlsVersions::Tls12Only),
            client(TlsVersions::Tls13Only),
        ],
        servers: [
            plain.server_config(),
            mtls.server_config(),
            optional.server_config(),
        ],
        accept_tls_only: Arc::new(AcceptPolicy::new(sni)),
        accept_plaintext: Arc::new(with_plaintext),
    }
}

/// Drains every output of `session` and checks the invariants that hold after any input:
/// a failed session stays failed, buffers stay within their limits, events are finite.
/// Returns the ciphertext the session wanted to send.
pub fn drain(session: &mut Session, read: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = session.poll_transmit(&mut out);
    let mut events = 0;
    while let Some(event) = session.poll_event() {
        events += 1;
        assert!(
            events < 1_000,
            "a session reported 1,000 events for one input"
        );
        if let Event::Failed(e) = &event {
            assert_eq!(
                session.error().map(|e| e.to_string()),
                Some(e.to_string()),
                "a Failed event differs from error()"
            );
        }
    }
    if read {
        let mut rounds = 0;
        while let Some(chunk) = session.read_chunk() {
            let n = chunk.len();
            assert!(n > 0, "read_chunk lent an empty chunk");
            session.consume(n);
            rounds += 1;
            assert!(rounds < 100_000, "read_chunk never ran dry");
        }
    }
    let limits = *session.limits();
    assert!(
        session.readable_bytes() <= limits.max_read_buffer + limits.max_record_backlog,
        "read buffer holds {} bytes",
        session.readable_bytes()
    );
    assert!(
        session.buffered_bytes() <= 4 << 20,
        "session buffers hold {} bytes",
        session.buffered_bytes()
    );
    if let Some(e) = session.error().map(|e| e.to_string()) {
        assert!(
            !session.is_handshaking(),
            "failed session still handshaking"
        );
        let again = session.handle_input(b"\x17\x03\x03\x00\x01x", Instant::now());
        assert_eq!(
            again.map_err(|e| e.to_string()),
            Err(e),
            "a failed session revived"
        );
    }
    out
}

/// Feeds `bytes` to `session` in pieces of `chunk` bytes (0: all at once), draining after each.
/// With `read` false the application never reads, so back-pressure is exercised. Returns the
/// ciphertext the session sent, or `None` once it failed.
pub fn feed(
    session: &mut Session,
    bytes: &[u8],
    chunk: usize,
    now: Instant,
    read: bool,
) -> Option<Vec<u8>> {
    let mut sent = Vec::new();
    let chunk = if chunk == 0 {
        bytes.len().max(1)
    } else {
        chunk
    };
    for piece in bytes.chunks(chunk) {
        let mut rest = piece;
        while !rest.is_empty() {
            let result = session.handle_input(rest, now);
            sent.extend(drain(session, read));
            match result {
                Ok(0) => return Some(sent), // read buffer full and nobody reads: stop
                Ok(n) => {
                    assert!(n <= rest.len(), "consumed more than offered");
                    rest = &rest[n..];
                }
                Err(e) => {
                    let recorded = session.error().map(|e| e.to_string());
                    assert_eq!(
                        recorded,
                        Some(e.to_string()),
                        "error() differs from the Err"
                    );
                    return None;
                }
            }
        }
    }
    Some(sent)
}

/// Splits an input into (chunk size, bytes): the first byte is the size of the pieces the rest
/// arrives in, 0 meaning all at once.
fn chunked(data: &[u8]) -> (usize, &[u8]) {
    match data.split_first() {
        Some((&chunk, rest)) => (usize::from(chunk), rest),
        None => (0, data),
    }
}

/// Target `server_fresh`: a new server session fed arbitrary bytes, then EOF.
///
/// Input: `[chunk size, config index, bytes...]`; the config index picks one of
/// [`Fixture::servers`].
pub fn server_fresh(data: &[u8]) {
    let (chunk, data) = chunked(data);
    let (which, data) = data.split_first().map_or((0, data), |(w, r)| (*w, r));
    let config = fixture().servers[usize::from(which) % 3].clone();
    let now = Instant::now();
    let Ok(mut session) = Session::server(config) else {
        return;
    };
    session.handle_timeout(now);
    if feed(&mut session, data, chunk, now, true).is_some() {
        session.handle_eof(now);
        drain(&mut session, true);
    }
}

/// Target `client_fresh`: a new client session (its ClientHello sent and dropped) fed
/// arbitrary bytes as the server's answer, then EOF.
///
/// Input: `[chunk size, config index, bytes...]`; the config index picks one of
/// [`Fixture::clients`].
pub fn client_fresh(data: &[u8]) {
    let (chunk, data) = chunked(data);
    let (which, data) = data.split_first().map_or((0, data), |(w, r)| (*w, r));
    let config = fixture().clients[usize::from(which) % 3].clone();
    let now = Instant::now();
    let Ok(mut session) = Session::client(config, "localhost") else {
        return;
    };
    session.handle_timeout(now);
    drain(&mut session, true);
    if feed(&mut session, data, chunk, now, true).is_some() {
        session.handle_eof(now);
        drain(&mut session, true);
    }
}

/// Target `accept`: the sniffing and ClientHello path, then the session it returns.
///
/// Input: `[chunk size, flags, bytes...]`; flag bit 0 allows plaintext.
pub fn accept(data: &[u8]) {
    let (chunk, data) = chunked(data);
    let (flags, data) = data.split_first().map_or((0, data), |(f, r)| (*f, r));
    let policy = if flags & 1 == 1 {
        fixture().accept_plaintext.clone()
    } else {
        fixture().accept_tls_only.clone()
    };
    let _ = sniff(data);
    let now = Instant::now();
    let mut accept = Accept::new(policy);
    let chunk = if chunk == 0 { data.len().max(1) } else { chunk };
    let mut fed = 0;
    for piece in data.chunks(chunk) {
        fed += piece.len();
        match accept.handle_input(piece, now) {
            Ok(None) => {}
            Ok(Some(Decision::Plaintext { buffered })) => {
                assert_eq!(buffered, data[..fed], "plaintext replay lost bytes");
                return;
            }
            Ok(Some(Decision::Tls(mut session))) => {
                drain(&mut session, true);
                let _ = feed(&mut session, &data[fed..], 0, now, true);
                return;
            }
            Err(rejection) => {
                // Every refusal carries an alert, including those rustls queued none for
                // (regression: fuzz/corpus/accept/empty_alert_incompatible_signing_key).
                assert!(
                    !rejection.alert.is_empty(),
                    "rejection without an alert: {:?}",
                    rejection.reason
                );
                let _ = rejection.to_string();
                return;
            }
        }
    }
}

/// Target `pem`: the PEM loaders on arbitrary text, and the key check when both parse.
pub fn pem(data: &[u8]) {
    let source = Path::new("fuzz-input.pem");
    let certs = certs_from_pem(data, source);
    let key = private_key_from_pem(data, source);
    if let Err(e) = roots_from_pem(data, source) {
        assert!(
            e.to_string().contains("fuzz-input.pem"),
            "error {e} names no file"
        );
    }
    if let (Ok(certs), Ok(key)) = (certs, key) {
        let _ = certified_key(certs, key, source, source);
    }
}

/// Takes the next byte of a script (0 once it has run out).
fn next(ops: &mut &[u8]) -> u8 {
    let (first, rest) = ops.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
    *ops = rest;
    first
}

/// Which end of an established session a script drives.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Under {
    /// The server is fuzzed; an honest client is its peer.
    Server,
    /// The client is fuzzed; an honest server is its peer.
    Client,
}

/// Builds an established client/server pair in memory with the fixed certificates.
/// `which` picks the configurations (TLS 1.2 or 1.3, with or without client certificates).
pub fn established(which: u8, now: Instant) -> Option<(Session, Session)> {
    let f = fixture();
    let i = usize::from(which) % 3;
    let mut client = Session::client(f.clients[i].clone(), "localhost").ok()?;
    let mut server = Session::server(f.servers[i].clone()).ok()?;
    client.handle_timeout(now);
    server.handle_timeout(now);
    let mut to_server = drain(&mut client, true);
    for _ in 0..20 {
        let mut to_client = feed(&mut server, &to_server, 0, now, true)?;
        to_client.extend(drain(&mut server, true));
        to_server = feed(&mut client, &to_client, 0, now, true)?;
        to_server.extend(drain(&mut client, true));
        if to_server.is_empty() && to_client.is_empty() {
            break;
        }
    }
    (!client.is_handshaking() && !server.is_handshaking()).then_some((client, server))
}

/// Targets `server_established` and `client_established`: a script of operations run against
/// one end of an established session, the other end being an honest peer.
///
/// Input: `[configuration, ops...]`, each op a byte followed by its arguments:
/// `0 n`: the peer sends `n * 97` bytes of data; `1 hi lo bytes`: `hi*256+lo` raw bytes go
/// straight to the fuzzed end; `2 pos mask n`: the peer's next data record arrives with one
/// byte flipped; `3 keep`: only the first `keep` bytes of the peer's next record arrive;
/// `4`: the fuzzed end reads all it has; `5 n`: the fuzzed end sends `n * 97` bytes; `6`: the
/// peer asks for a key update; `7`: the peer closes; `8`: EOF; `9`: the fuzzed end closes;
/// `10 s`: `s` seconds pass; `11`: the fuzzed end asks for a key update; `12 c`: later input
/// arrives in pieces of `c` bytes; `13`: the fuzzed end stops reading.
pub fn established_script(under: Under, data: &[u8]) {
    let Some((&which, mut ops)) = data.split_first() else {
        return;
    };
    let mut now = Instant::now();
    let Some((client, server)) = established(which, now) else {
        panic!("the in-memory handshake failed with the fixed certificates");
    };
    let (mut target, mut peer) = match under {
        Under::Server => (server, client),
        Under::Client => (client, server),
    };
    let (mut chunk, mut read) = (0usize, true);
    for _ in 0..256 {
        let Some(&op) = ops.first() else { break };
        ops = &ops[1..];
        // What the peer sends this step, possibly tampered with.
        let mut wire = Vec::new();
        match op {
            0 => {
                let n = usize::from(next(&mut ops)) * 97;
                let _ = peer.write(&vec![b'p'; n]);
                wire = drain(&mut peer, true);
            }
            1 => {
                let len = usize::from(next(&mut ops)) << 8 | usize::from(next(&mut ops));
                let len = len.min(ops.len());
                wire = ops[..len].to_vec();
                ops = &ops[len..];
            }
            2 => {
                let (pos, mask) = (usize::from(next(&mut ops)), next(&mut ops));
                let n = usize::from(next(&mut ops)) + 1;
                let _ = peer.write(&vec![b'c'; n]);
                wire = drain(&mut peer, true);
                if let Some(byte) = wire.get_mut(pos) {
                    *byte ^= mask.max(1);
                }
            }
            3 => {
                let keep = usize::from(next(&mut ops));
                let _ = peer.write(b"truncated record");
                wire = drain(&mut peer, true);
                wire.truncate(keep);
            }
            4 => {
                read = true;
                drain(&mut target, true);
            }
            5 => {
                let n = usize::from(next(&mut ops)) * 97;
                let _ = target.write(&vec![b't'; n]);
            }
            6 => {
                let _ = peer.refresh_traffic_keys();
                wire = drain(&mut peer, true);
            }
            7 => {
                peer.close(now);
                wire = drain(&mut peer, true);
            }
            8 => target.handle_eof(now),
            9 => target.close(now),
            10 => {
                now += Duration::from_secs(u64::from(next(&mut ops)));
                target.handle_timeout(now);
            }
            11 => {
                let _ = target.refresh_traffic_keys();
            }
            12 => chunk = usize::from(next(&mut ops)),
            13 => read = false,
            _ => {}
        }
        let mut back = Vec::new();
        if !wire.is_empty() {
            back = feed(&mut target, &wire, chunk, now, read).unwrap_or_default();
        }
        // The target's answer reaches the honest peer.
        back.extend(drain(&mut target, read));
        let _ = feed(&mut peer, &back, 0, now, true);
    }
}
