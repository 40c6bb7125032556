//! Interop with real peers: the core, driven by a small blocking loop over `std::net::TcpStream`,
//! against `openssl s_server` and serving `openssl s_client`, with TLS 1.2 and TLS 1.3 and
//! mutual TLS.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tlswire_core::{
    Accept, AcceptPolicy, ClientAuth, ClientOptions, Decision, Error, Event, ServerTrust, Session,
    SniPolicy, TlsVersions,
};
use tlswire_testkit::{temp_dir, OpensslClient, OpensslServer, TestPki};

/// How long any one exchange with a peer process may take before the test gives up.
const PATIENCE: Duration = Duration::from_secs(15);

/// A session over a blocking TCP stream.
struct Conn {
    tcp: TcpStream,
    session: Session,
    received: Vec<u8>,
    events: Vec<Event>,
    eof: bool,
}

impl Conn {
    fn new(tcp: TcpStream, mut session: Session) -> Self {
        tcp.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        session.handle_timeout(Instant::now());
        Self {
            tcp,
            session,
            received: Vec::new(),
            events: Vec::new(),
            eof: false,
        }
    }

    /// Sends what the session has to send, then reads once (briefly) and feeds the session.
    fn turn(&mut self) -> Result<(), Error> {
        let mut out = Vec::new();
        if self.session.poll_transmit(&mut out) > 0 {
            // The peer may already have gone away after a fatal alert; that is its right.
            let _ = self.tcp.write_all(&out);
        }
        self.drain();
        if let Some(e) = self.session.error() {
            return Err(e.clone());
        }
        if self.eof {
            return Ok(());
        }
        let mut buf = [0u8; 16 * 1024];
        let now = Instant::now();
        match self.tcp.read(&mut buf) {
            Ok(0) => {
                self.eof = true;
                self.session.handle_eof(now);
            }
            Ok(n) => {
                let mut fed = 0;
                while fed < n {
                    let taken = self.session.handle_input(&buf[fed..n], now);
                    // Send the alert that explains a failure before reporting it.
                    let mut out = Vec::new();
                    if self.session.poll_transmit(&mut out) > 0 {
                        let _ = self.tcp.write_all(&out);
                    }
                    fed += taken?;
                    self.drain();
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                self.session.handle_timeout(now);
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                self.eof = true;
                self.session.handle_eof(now);
            }
            Err(e) => panic!("socket error: {e}"),
        }
        self.drain();
        match self.session.error() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn drain(&mut self) {
        while let Some(chunk) = self.session.read_chunk() {
            self.received.extend_from_slice(chunk);
            let n = chunk.len();
            self.session.consume(n);
        }
        self.events
            .extend(std::iter::from_fn(|| self.session.poll_event()));
    }

    /// Turns until `done` holds; an error from the session, EOF or the deadline ends it early.
    fn run_until(&mut self, what: &str, done: impl Fn(&Self) -> bool) -> Result<(), Error> {
        let deadline = Instant::now() + PATIENCE;
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            self.turn()?;
            if self.eof && !done(self) {
                panic!(
                    "peer closed while waiting for {what}; events: {:?}",
                    self.events
                );
            }
        }
        Ok(())
    }

    fn handshake_complete(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, Event::HandshakeComplete(_)))
    }
}

fn client_config(pki: &TestPki, versions: TlsVersions) -> std::sync::Arc<rustls::ClientConfig> {
    ClientOptions::new(ServerTrust::Roots(pki.roots()))
        .with_versions(versions)
        .build()
        .unwrap()
}

fn echo_against_openssl_server(versions: TlsVersions, flag: &str) {
    let pki = TestPki::new();
    let dir = temp_dir("interop-s_server");
    let (cert, key) = pki.server.write(&dir, "server");
    let server = OpensslServer::start(&cert, &key, &["-rev", flag]);
    let session = Session::client(client_config(&pki, versions), "localhost").unwrap();
    let mut conn = Conn::new(TcpStream::connect(server.addr).unwrap(), session);
    conn.session.write(b"hello tlswire\n").unwrap();
    conn.run_until("the handshake", Conn::handshake_complete)
        .unwrap();
    // `-rev` answers each line reversed.
    conn.run_until("the echo", |c| c.received.ends_with(b"\n"))
        .unwrap();
    assert_eq!(conn.received, b"eriwslt olleh\n");
    let expected = match versions {
        TlsVersions::Tls12Only => rustls::ProtocolVersion::TLSv1_2,
        _ => rustls::ProtocolVersion::TLSv1_3,
    };
    assert_eq!(conn.session.peer().version, Some(expected));
    conn.session.close(Instant::now());
    conn.turn().unwrap();
}

#[test]
fn client_against_openssl_s_server_tls13() {
    echo_against_openssl_server(TlsVersions::Tls13Only, "-tls1_3");
}

#[test]
fn client_against_openssl_s_server_tls12() {
    echo_against_openssl_server(TlsVersions::Tls12Only, "-tls1_2");
}

#[test]
fn client_presents_its_certificate_to_openssl_s_server() {
    let pki = TestPki::new();
    let dir = temp_dir("interop-s_server-mtls");
    pki.write_all(&dir);
    let ca = path(dir.join("ca.crt"));
    let server = OpensslServer::start(
        &dir.join("server.crt"),
        &dir.join("server.key"),
        &[
            "-rev",
            "-Verify",
            "1",
            "-CAfile",
            &ca,
            "-verify_return_error",
        ],
    );
    let session = Session::client(pki.client_config_with(&pki.client), "localhost").unwrap();
    let mut conn = Conn::new(TcpStream::connect(server.addr).unwrap(), session);
    conn.session.write(b"mutual\n").unwrap();
    conn.run_until("the echo", |c| c.received.ends_with(b"\n"))
        .unwrap();
    assert_eq!(conn.received, b"lautum\n");
}

fn path(p: PathBuf) -> String {
    p.to_str().unwrap().to_owned()
}

/// Accepts one `openssl s_client` presenting `client_cert` and serves it a `ping`/`pong`
/// exchange; returns the server session's result and what s_client printed (stdout, then
/// stderr).
fn serve_openssl_client(
    pki: &TestPki,
    dir: &Path,
    client_cert: &str,
    flag: &str,
) -> (Result<Session, Error>, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client = OpensslClient::start(
        addr,
        &[
            "-cert",
            &path(dir.join(format!("{client_cert}.crt"))),
            "-key",
            &path(dir.join(format!("{client_cert}.key"))),
            "-CAfile",
            &path(dir.join("ca.crt")),
            "-servername",
            "localhost",
            "-verify_return_error",
            "-quiet",
            flag,
        ],
    );
    let mut stdin = client.child.0.stdin.take().unwrap();
    stdin.write_all(b"ping\n").unwrap();
    stdin.flush().unwrap();

    let (mut tcp, _) = listener.accept().unwrap();
    let session = accept_by_sni(pki, &mut tcp);
    let mut conn = Conn::new(tcp, session);
    let result = (|| {
        conn.run_until("the handshake", Conn::handshake_complete)?;
        conn.run_until("ping", |c| c.received.ends_with(b"ping\n"))?;
        conn.session.write(b"pong\n")?;
        conn.session.close(Instant::now());
        // Until s_client answers our close_notify or hangs up.
        let deadline = Instant::now() + PATIENCE;
        while !conn.eof && !conn.session.is_peer_closed() && Instant::now() < deadline {
            conn.turn()?;
        }
        Ok(())
    })();
    // Hang up, give s_client a moment to read what we sent and exit by itself, then make sure.
    drop(stdin);
    let Conn { session, tcp, .. } = conn;
    drop(tcp);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && matches!(client.child.0.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = client.child.0.kill();
    let mut printed = String::new();
    if let Some(mut stdout) = client.child.0.stdout.take() {
        let _ = stdout.read_to_string(&mut printed);
    }
    if let Some(mut stderr) = client.child.0.stderr.take() {
        let _ = stderr.read_to_string(&mut printed);
    }
    (result.map(|()| session), printed)
}

/// Reads the first bytes of `tcp` into an [`Accept`] whose policy serves `localhost` with
/// mutual TLS (and nothing else), as a one-port server would.
fn accept_by_sni(pki: &TestPki, tcp: &mut TcpStream) -> Session {
    let mut sni = SniPolicy::new();
    sni.insert(
        "localhost",
        pki.site(&pki.server, ClientAuth::Required(pki.roots()), &[]),
    )
    .unwrap();
    let mut accept = Accept::new(Arc::new(AcceptPolicy::new(sni)));
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = [0u8; 4096];
    for _ in 0..1000 {
        let n = tcp.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "s_client hung up before its ClientHello was complete"
        );
        match accept.handle_input(&buf[..n], Instant::now()) {
            Ok(None) => {}
            Ok(Some(Decision::Tls(session))) => return *session,
            Ok(Some(Decision::Plaintext { .. })) => panic!("s_client spoke plaintext"),
            Err(rejection) => panic!("s_client refused: {rejection}"),
        }
    }
    panic!("no ClientHello in 1000 reads");
}

fn serves_openssl_client_with_mutual_tls(flag: &str, version: rustls::ProtocolVersion) {
    let pki = TestPki::new();
    let dir = temp_dir("interop-s_client");
    pki.write_all(&dir);

    let (session, printed) = serve_openssl_client(&pki, &dir, "client", flag);
    let session = session.unwrap();
    let peer = session.peer();
    assert_eq!(peer.version, Some(version));
    assert_eq!(peer.sni.as_deref(), Some("localhost"));
    assert_eq!(peer.certificates[0], pki.client.cert());
    assert!(printed.contains("pong"), "s_client printed {printed:?}");

    let (session, printed) = serve_openssl_client(&pki, &dir, "stranger", flag);
    match session {
        Err(Error::Tls(rustls::Error::InvalidCertificate(_))) => {}
        Err(other) => panic!("wrong error for an unknown client certificate: {other:?}"),
        Ok(_) => panic!("a client certificate from an unknown CA was accepted"),
    }
    // The refusal reached s_client as a TLS alert, not a bare hang-up.
    assert!(
        printed.contains("alert unknown ca"),
        "s_client printed {printed:?}"
    );
}

#[test]
fn serves_openssl_s_client_with_mutual_tls_tls13() {
    serves_openssl_client_with_mutual_tls("-tls1_3", rustls::ProtocolVersion::TLSv1_3);
}

#[test]
fn serves_openssl_s_client_with_mutual_tls_tls12() {
    serves_openssl_client_with_mutual_tls("-tls1_2", rustls::ProtocolVersion::TLSv1_2);
}
