//! Hostile clients against an in-process ingest daemon: thousands of silent connections, a flood
//! of ClientHellos, damaged records at every handshake stage, a 4 MiB payload, a client that
//! never reads its acks. After each attack a legitimate mTLS client's dicts must still be stored.
//!
//! Every loop is bounded in count and time; only loopback addresses are used.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use tlswire_core::rustls::ClientConfig;
use tlswire_core::{ClientOptions, ServerTrust, Session};
use tlswire_ingest::ConfigFile;
use tlswire_testkit::{closed_by_server, damaged_connection, DAMAGES};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Bound on every wait for the daemon.
const WAIT: Duration = Duration::from_secs(30);

fn client_config(setup: &OldSetup) -> Arc<ClientConfig> {
    ClientOptions::new(ServerTrust::Pinned(
        tlswire_core::load_pinned(&setup.server.0).unwrap(),
    ))
    .with_identity(tlswire_core::load_identity(&setup.clients[0].0, &setup.clients[0].1).unwrap())
    .build()
    .unwrap()
}

/// A legitimate client stores `count` dicts tagged `tag`; waits until the daemon has stored
/// them all.
async fn legit_client_stores(daemon: &Daemon, setup: &OldSetup, tag: &str, count: usize) {
    let before = daemon.stored();
    let mut stream = tokio::time::timeout(
        WAIT,
        connect(daemon.addr, &setup.clients[0], &setup.server.0),
    )
    .await
    .expect("legitimate handshake timed out")
    .expect("legitimate handshake failed");
    let mut text = String::new();
    for i in 0..count {
        text.push_str(&format!("{{\"{tag}:{i}\": \"v{i}\"}}"));
    }
    stream.write_all(text.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    let target = before + count as u64;
    wait_until("legitimate dicts stored", WAIT, || {
        daemon.stored() >= target
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_and_a_hello_flood_do_not_block_clients() {
    let setup = old_setup("ingest-hostile-flood", 1, 1);
    let daemon = start_daemon(setup.config(ConfigFile::default())).await;
    let mut silent = Vec::with_capacity(5_000);
    for i in 0..5_000 {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(daemon.addr))
            .await
            .unwrap_or_else(|_| panic!("connect {i} timed out"))
            .unwrap_or_else(|e| panic!("connect {i}: {e}"));
        silent.push(stream);
    }
    legit_client_stores(&daemon, &setup, "silent", 100).await;
    let config = client_config(&setup);
    let mut flood = Vec::with_capacity(500);
    for _ in 0..500 {
        let mut session = Session::client(config.clone(), "localhost").unwrap();
        let mut hello = Vec::new();
        let _ = session.poll_transmit(&mut hello);
        let mut stream = TcpStream::connect(daemon.addr).await.unwrap();
        stream.write_all(&hello).await.unwrap();
        flood.push(stream);
    }
    legit_client_stores(&daemon, &setup, "flood", 100).await;
    drop(silent);
    drop(flood);
    legit_client_stores(&daemon, &setup, "after", 10).await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_records_at_every_handshake_stage_are_refused() {
    let setup = old_setup("ingest-hostile-damage", 1, 1);
    let daemon = start_daemon(setup.config(ConfigFile::default())).await;
    let config = client_config(&setup);
    // Every kind but `LengthLies`: after the handshake only an idle timeout ends a record that
    // never completes, and this daemon sets none.
    for stage in 0..3 {
        for damage in &DAMAGES[..4] {
            let what = format!("stage {stage}, {damage:?}");
            let mut tcp = damaged_connection(
                daemon.addr,
                config.clone(),
                stage,
                *damage,
                b"{\"damaged\": 1}",
            )
            .await;
            closed_by_server(&mut tcp, &what).await;
        }
    }
    legit_client_stores(&daemon, &setup, "damage", 10).await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_payload_and_a_client_that_never_reads() {
    let setup = old_setup("ingest-hostile-big", 1, 1);
    let mut config = setup.config(ConfigFile::default());
    config.ack = Some(true);
    let daemon = start_daemon(config).await;

    // 4 MiB in one value (the limit is 1 MiB): refused, and the connection goes on.
    let mut big = connect(daemon.addr, &setup.clients[0], &setup.server.0)
        .await
        .unwrap();
    let value = format!(
        "{{\"big\": \"{}\"}}{{\"small\": \"ok\"}}",
        "x".repeat(4 << 20)
    );
    let before = daemon.stored();
    tokio::time::timeout(WAIT, big.write_all(value.as_bytes()))
        .await
        .expect("4 MiB write stalled")
        .unwrap();
    big.flush().await.unwrap();
    wait_until("the small dict after the big one", WAIT, || {
        daemon.stored() > before
    })
    .await;

    // Acks on: a client that sends and never reads fills its receive window with acks.
    let mut stuck = connect(daemon.addr, &setup.clients[0], &setup.server.0)
        .await
        .unwrap();
    let mut batch = String::new();
    for i in 0..1_000 {
        batch.push_str(&format!("{{\"stuck:{i}\": \"{}\"}}", "y".repeat(100)));
    }
    for _ in 0..1_000 {
        let write = tokio::time::timeout(
            Duration::from_millis(500),
            stuck.write_all(batch.as_bytes()),
        );
        match write.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("stuck client write failed: {e}"),
            Err(_) => break, // the daemon stopped reading it: back-pressure
        }
    }
    legit_client_stores(&daemon, &setup, "beside-stuck", 100).await;
    drop(stuck);
    drop(big);
    daemon.stop().await;
}
