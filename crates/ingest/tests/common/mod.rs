//! Shared test helpers: real redis-server processes, certificates made with the old setup's
//! `openssl req -x509` command, an in-process daemon, clients.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tlswire_ingest::{ConfigFile, Ingest, Metrics, Settings};
use tlswire_testkit::{free_port, require_program, wait_for_port, ChildGuard};

/// A redis-server on a loopback port, killed on drop.
pub struct Redis {
    pub port: u16,
    pub child: Option<ChildGuard>,
    dir: PathBuf,
    extra: Vec<String>,
}

impl Redis {
    pub fn start(dir: &Path, extra: &[&str]) -> Self {
        Self::start_on(free_port(), dir, extra)
    }

    pub fn start_on(port: u16, dir: &Path, extra: &[&str]) -> Self {
        let mut redis = Self {
            port,
            child: None,
            dir: dir.to_owned(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        redis.restart();
        redis
    }

    /// Starts (again) with the same port, directory and arguments.
    pub fn restart(&mut self) {
        let program = require_program("redis-server");
        std::fs::create_dir_all(&self.dir).unwrap();
        let tls = self.extra.iter().any(|a| a == "--tls-port");
        let mut cmd = Command::new(program);
        if tls {
            cmd.args(["--port", "0"]);
        } else {
            cmd.args(["--port", &self.port.to_string()]);
        }
        cmd.args(["--bind", "127.0.0.1", "--save", "", "--loglevel", "warning"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.child = Some(ChildGuard(cmd.spawn().expect("spawn redis-server")));
        wait_for_port(self.addr(), Duration::from_secs(10));
    }

    pub fn kill(&mut self) {
        self.child = None;
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn query(&self, args: &[&str]) -> Resp {
        redis_query(self.port, args)
    }
}

/// A reply from the small RESP client below.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resp {
    Nil,
    Int(i64),
    Str(String),
    Err(String),
    Arr(Vec<Resp>),
}

impl Resp {
    pub fn int(&self) -> i64 {
        match self {
            Self::Int(n) => *n,
            other => panic!("expected an integer, got {other:?}"),
        }
    }
    pub fn str(&self) -> &str {
        match self {
            Self::Str(s) => s,
            other => panic!("expected a string, got {other:?}"),
        }
    }
    pub fn arr(&self) -> &[Resp] {
        match self {
            Self::Arr(a) => a,
            other => panic!("expected an array, got {other:?}"),
        }
    }
}

fn read_resp(reader: &mut impl BufRead) -> Resp {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let line = line.trim_end_matches("\r\n");
    let (kind, rest) = line.split_at(1);
    match kind {
        "+" => Resp::Str(rest.to_owned()),
        "-" => Resp::Err(rest.to_owned()),
        ":" => Resp::Int(rest.parse().unwrap()),
        "$" => {
            let len: i64 = rest.parse().unwrap();
            if len < 0 {
                return Resp::Nil;
            }
            let mut buf = vec![0u8; len as usize + 2];
            std::io::Read::read_exact(reader, &mut buf).unwrap();
            buf.truncate(len as usize);
            Resp::Str(String::from_utf8(buf).unwrap())
        }
        "*" => {
            let len: i64 = rest.parse().unwrap();
            Resp::Arr((0..len.max(0)).map(|_| read_resp(reader)).collect())
        }
        _ => panic!("bad reply line {line:?}"),
    }
}

/// One command to a plain Redis on loopback, in database `db`.
pub fn redis_query_db(port: u16, db: u32, args: &[&str]) -> Resp {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut out = String::new();
    for command in [&["SELECT", &db.to_string()][..], args] {
        out.push_str(&format!("*{}\r\n", command.len()));
        for arg in command {
            out.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
    }
    stream.write_all(out.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    assert_eq!(read_resp(&mut reader), Resp::Str("OK".into()));
    read_resp(&mut reader)
}

/// One command to a plain Redis on loopback.
pub fn redis_query(port: u16, args: &[&str]) -> Resp {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut out = format!("*{}\r\n", args.len());
    for arg in args {
        out.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(out.as_bytes()).unwrap();
    read_resp(&mut BufReader::new(stream))
}

/// A certificate and key made exactly as the old daemon's docs say:
/// `openssl req -new -newkey rsa:2048 -days 365 -nodes -x509 -keyout K -out C -subj /CN=name`.
pub fn openssl_self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let status = Command::new(require_program("openssl"))
        .args([
            "req", "-new", "-newkey", "rsa:2048", "-days", "365", "-nodes", "-x509",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-subj", &format!("/CN={name}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "openssl req failed");
    (cert, key)
}

/// Concatenates certificates into a `client_certs.crt` bundle.
pub fn bundle(dir: &Path, certs: &[&Path]) -> PathBuf {
    let path = dir.join("client_certs.crt");
    let mut text = String::new();
    for cert in certs {
        text.push_str(&std::fs::read_to_string(cert).unwrap());
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// The old setup: a self-signed server certificate and client certificates, `allowed` of
/// them in the pinned bundle.
pub struct OldSetup {
    pub dir: PathBuf,
    pub server: (PathBuf, PathBuf),
    pub clients: Vec<(PathBuf, PathBuf)>,
    pub bundle: PathBuf,
}

pub fn old_setup(tag: &str, clients: usize, allowed: usize) -> OldSetup {
    let dir = tlswire_testkit::temp_dir(tag);
    let server = openssl_self_signed(&dir, "server");
    let clients: Vec<_> = (0..clients)
        .map(|i| openssl_self_signed(&dir, &format!("client{i}")))
        .collect();
    let allowed: Vec<&Path> = clients[..allowed]
        .iter()
        .map(|(c, _)| c.as_path())
        .collect();
    let bundle = bundle(&dir, &allowed);
    OldSetup {
        dir,
        server,
        clients,
        bundle,
    }
}

impl OldSetup {
    /// Daemon settings for this setup on a free port, storing into `storage` keys.
    pub fn config(&self, storage: ConfigFile) -> ConfigFile {
        ConfigFile {
            host: Some("127.0.0.1".into()),
            port: Some(free_port()),
            cert: Some(self.server.0.clone()),
            key: Some(self.server.1.clone()),
            client_certs: Some(self.bundle.clone()),
            spool_dir: Some(self.dir.join("spool")),
            store: Some(self.dir.join("store.redb")),
            admin: Some("off".into()),
            ..ConfigFile::default()
        }
        .overridden_by(storage)
    }
}

/// A daemon running in this process until [`Daemon::stop`].
pub struct Daemon {
    pub addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

pub async fn start_daemon(config: ConfigFile) -> Daemon {
    // The daemon's logs, shown by the test harness when a test fails.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_test_writer()
        .try_init();
    let settings = Settings::resolve(config).unwrap();
    let daemon = Ingest::bind(settings).await.unwrap();
    let addr = daemon.local_addr().unwrap();
    let metrics = daemon.metrics();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        daemon
            .run(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Daemon {
        addr,
        metrics,
        stop: Some(stop),
        task,
    }
}

impl Daemon {
    /// The same path SIGTERM takes: stop accepting, store what was received, return.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(60), &mut self.task)
            .await
            .expect("daemon did not stop within 60 s")
            .unwrap();
    }

    pub fn stored(&self) -> u64 {
        self.metrics
            .stored
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Polls `condition` until it holds, failing after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An mTLS client over tlswire-tokio, pinning the server's certificate.
pub async fn connect(
    addr: SocketAddr,
    client: &(PathBuf, PathBuf),
    server_cert: &Path,
) -> std::io::Result<tlswire_tokio::TlsStream<tokio::net::TcpStream>> {
    let config = tlswire_core::ClientOptions::new(tlswire_core::ServerTrust::Pinned(
        tlswire_core::load_pinned(server_cert).unwrap(),
    ))
    .with_identity(tlswire_core::load_identity(&client.0, &client.1).unwrap())
    .build()
    .unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tlswire_tokio::TlsConnector::new(config)
        .connect("localhost", tcp)
        .await
}

/// A client written the way the old daemon's users write theirs.
pub const PYTHON_CLIENT: &str = r#"
import json, socket, ssl, sys
host, port, cert, key, server_cert = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
dicts = json.loads(sys.stdin.read())
ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=server_cert)
ctx.check_hostname = False
ctx.load_cert_chain(certfile=cert, keyfile=key)
try:
    with socket.create_connection((host, port)) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as sock:
            for d in dicts:
                sock.send(json.dumps(d).encode())
            sock.settimeout(1.0)
            try:
                # the server closes refused connections; a good one stays open until we leave
                sock.recv(1)
            except (socket.timeout, TimeoutError):
                pass
    print("sent")
except (ssl.SSLError, ConnectionError, OSError) as e:
    print("refused:", e)
"#;

/// Runs [`PYTHON_CLIENT`] sending `dicts`; returns its stdout (`sent` or `refused: …`).
pub fn python_send(
    addr: SocketAddr,
    client: &(PathBuf, PathBuf),
    server_cert: &Path,
    dicts: &serde_json::Value,
) -> String {
    let mut child = Command::new(require_program("python3"))
        .arg("-c")
        .arg(PYTHON_CLIENT)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .arg(&client.0)
        .arg(&client.1)
        .arg(server_cert)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dicts.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        !stdout.is_empty(),
        "python client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
