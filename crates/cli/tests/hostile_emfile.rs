//! `tlswire proxy` run out of file descriptors: the binary starts under `ulimit -n 64`, more
//! connections arrive than it can accept, and it must log the failed accepts, not crash, not
//! spin, and serve again once descriptors are free.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tlswire_core::rustls::ClientConfig;
use tlswire_core::Session;
use tlswire_testkit::{free_port, require_program, temp_dir, wait_for_port, ChildGuard, TestPki};

/// A backend that sends `app\n`, then echoes.
fn tagged_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(100) {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let _ = stream.write_all(b"app\n");
                let mut reader = stream.try_clone().unwrap();
                let _ = std::io::copy(&mut reader, &mut stream);
            });
        }
    });
    addr
}

/// A blocking TLS client: handshakes through `addr` and returns the first line it reads.
fn first_line_over_tls(addr: SocketAddr, config: Arc<ClientConfig>) -> Result<String, String> {
    let mut tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut session = Session::client(config, "localhost").map_err(|e| e.to_string())?;
    session.handle_timeout(Instant::now());
    let (mut out, mut buf, mut line) = (Vec::new(), vec![0u8; 16 * 1024], Vec::new());
    for _ in 0..100 {
        if session.poll_transmit(&mut out) > 0 {
            tcp.write_all(&out).map_err(|e| e.to_string())?;
            out.clear();
        }
        while let Some(chunk) = session.read_chunk() {
            line.extend_from_slice(chunk);
            let n = chunk.len();
            session.consume(n);
        }
        if line.contains(&b'\n') {
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
        let n = tcp.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("proxy closed the connection".into());
        }
        session
            .handle_input(&buf[..n], Instant::now())
            .map_err(|e| e.to_string())?;
    }
    Err("no line after 100 reads".into())
}

/// User plus system CPU time of a process, in clock ticks, from `/proc/PID/stat`.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name (field 2) may hold spaces; fields after its ')' are plain.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn proxy_survives_emfile_with_a_log_line_and_no_busy_loop() {
    let sh = require_program("sh");
    let dir = temp_dir("proxy-emfile");
    let pki = TestPki::new();
    pki.write_all(&dir);
    let backend = tagged_backend();
    let (port, admin) = (free_port(), free_port());
    let config = dir.join("proxy.yml");
    std::fs::write(
        &config,
        format!(
            r#"
admin: {{port: {admin}}}
routers:
  - label: app
    interpreter:
      kind: io.l5d.static
      names:
        /svc/app: [{{addr: "{backend}"}}]
    servers:
      - port: {port}
        dstName: /svc/app
        tls:
          defaultIdentity: {{certs: [server.crt], privateKey: server.key}}
"#
        ),
    )
    .unwrap();
    let log = dir.join("proxy.log");
    // The limit is lowered in the child only (by the shell that then becomes the proxy).
    let child = Command::new(sh)
        .arg("-c")
        .arg(r#"ulimit -n 64 && exec "$0" proxy "$1""#)
        .arg(env!("CARGO_BIN_EXE_tlswire"))
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut child = ChildGuard(child);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for_port(addr, Duration::from_secs(20));
    let client = pki.client_config();
    assert_eq!(first_line_over_tls(addr, client.clone()).unwrap(), "app\n");

    // 200 silent connections: the kernel queues them, the proxy runs out of descriptors.
    let hogs: Vec<TcpStream> = (0..200)
        .filter_map(|_| TcpStream::connect(addr).ok())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    let logged = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("accept failed") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        logged.contains("accept failed"),
        "no log line about the failed accept; log:\n{logged}"
    );
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "proxy exited on EMFILE"
    );
    // A spinning accept loop would burn a core; allow at most half of one over two seconds.
    let pid = child.0.id();
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(pid) - before;
    assert!(
        used < 100,
        "proxy used {used} ticks of CPU in 2 s while out of descriptors"
    );

    drop(hogs);
    // Descriptors come back as the proxy notices the closed connections (handshake timeout at
    // the latest); a legitimate client then gets through again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let result = loop {
        let result = first_line_over_tls(addr, client.clone());
        if result.is_ok() || Instant::now() > deadline {
            break result;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(result.unwrap(), "app\n");
    assert!(child.0.try_wait().unwrap().is_none(), "proxy exited");
}
