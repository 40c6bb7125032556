//! Interoperability with OpenSSL: `openssl s_client` against a tlswire-smol server, and a
//! tlswire-smol client against `openssl s_server`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use smol::io::{AsyncReadExt, AsyncWriteExt};
use tlswire_testkit::{require_program, temp_dir, ChildGuard, OpensslServer};

use crate::runtime::{on_both_runtimes, Runtime};
use crate::{acceptor, connector, pki};

on_both_runtimes!(
    openssl_s_client_talks_to_our_server,
    our_client_talks_to_openssl_s_server
);

async fn openssl_s_client_talks_to_our_server<R: Runtime>() {
    let openssl = require_program("openssl");
    let dir = temp_dir("smol-s-client");
    pki().write_all(&dir);
    let (listener, addr) = R::listen().await;
    let server = R::spawn(async move {
        let tls = acceptor().accept(R::accept(&listener).await).await.unwrap();
        let (reader, mut writer) = tls.into_split();
        smol::io::copy(reader, &mut writer).await.unwrap();
        writer.close().await.unwrap();
    });
    let echoed = R::spawn_blocking(move || {
        let child = Command::new(openssl)
            .args(["s_client", "-connect", &addr.to_string()])
            .args(["-servername", "localhost", "-verify_return_error"])
            .arg("-CAfile")
            .arg(dir.join("ca.crt"))
            .args(["-quiet", "-no_ign_eof"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn openssl s_client");
        let mut child = ChildGuard(child);
        let mut stdin = child.0.stdin.take().unwrap();
        stdin.write_all(b"hello from openssl\n").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        BufReader::new(child.0.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        drop(stdin); // EOF on stdin: s_client sends close_notify and exits
        let status = child.0.wait().unwrap();
        (line, status.success())
    })
    .await;
    assert_eq!(echoed.0, "hello from openssl\n");
    assert!(echoed.1, "openssl s_client failed");
    server.await;
}

async fn our_client_talks_to_openssl_s_server<R: Runtime>() {
    let dir = temp_dir("smol-s-server");
    pki().write_all(&dir);
    let server = OpensslServer::start(&dir.join("server.crt"), &dir.join("server.key"), &["-www"]);
    let mut tls = connector()
        .with_eof_policy(tlswire_smol::EofPolicy::Lenient)
        .connect("localhost", R::connect(server.addr).await)
        .await
        .unwrap();
    tls.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    tls.flush().await.unwrap();
    let mut page = String::new();
    tls.read_to_string(&mut page).await.unwrap();
    assert!(page.starts_with("HTTP/1.0 200 ok"), "{page}");
    let version = tls.peer().version;
    assert!(version.is_some());
}
