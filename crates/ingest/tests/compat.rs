//! Compatibility with the old daemon's clients and setup: Python `ssl` clients, certificates
//! made with `openssl req -x509`, pinned `client_certs.crt`, the wire format and the mapping.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use tlswire_ingest::ConfigFile;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_clients_store_flat_and_nested_dicts_and_an_unlisted_client_is_refused() {
    let setup = old_setup("ingest-python", 2, 1);
    let redis = Redis::start(&setup.dir.join("redis"), &[]);
    let daemon = start_daemon(setup.config(ConfigFile {
        redis_url: Some(format!("{}/2", redis.url())),
        ..ConfigFile::default()
    }))
    .await;
    let dicts = json!([
        {"name": "ada", "age": 36, "admin": true, "ratio": 0.5},
        {"user:1": {"name": "grace", "langs": 3}},
        {"mixed": "flat", "user:2": {"name": "linus"}},
    ]);
    let sent = tokio::task::spawn_blocking({
        let (addr, client, server) = (
            daemon.addr,
            setup.clients[0].clone(),
            setup.server.0.clone(),
        );
        move || python_send(addr, &client, &server, &dicts)
    })
    .await
    .unwrap();
    assert_eq!(sent, "sent");
    wait_until("3 payloads stored", Duration::from_secs(20), || {
        daemon.stored() == 3
    })
    .await;
    assert_eq!(redis_query_db(redis.port, 2, &["GET", "name"]).str(), "ada");
    assert_eq!(redis_query_db(redis.port, 2, &["GET", "age"]).str(), "36");
    assert_eq!(
        redis_query_db(redis.port, 2, &["GET", "admin"]).str(),
        "true"
    );
    assert_eq!(
        redis_query_db(redis.port, 2, &["GET", "ratio"]).str(),
        "0.5"
    );
    assert_eq!(
        redis_query_db(redis.port, 2, &["GET", "mixed"]).str(),
        "flat"
    );
    let hash = redis_query_db(redis.port, 2, &["HGETALL", "user:1"]);
    let fields: Vec<&str> = hash.arr().iter().map(|r| r.str()).collect();
    assert_eq!(fields.len(), 4);
    assert!(
        fields.windows(2).any(|w| w == ["name", "grace"]),
        "{fields:?}"
    );
    assert!(fields.windows(2).any(|w| w == ["langs", "3"]), "{fields:?}");
    assert_eq!(
        redis_query_db(redis.port, 2, &["HGET", "user:2", "name"]).str(),
        "linus"
    );
    // Nothing went to database 0.
    assert_eq!(redis.query(&["DBSIZE"]).int(), 0);

    let refused = tokio::task::spawn_blocking({
        let (addr, client, server) = (
            daemon.addr,
            setup.clients[1].clone(),
            setup.server.0.clone(),
        );
        move || python_send(addr, &client, &server, &json!([{"intruder": "yes"}]))
    })
    .await
    .unwrap();
    assert!(refused.starts_with("refused"), "{refused}");
    assert!(
        daemon
            .metrics
            .handshake_failures("client_certificate_refused")
            >= 1
    );
    assert!(matches!(
        redis_query_db(redis.port, 2, &["GET", "intruder"]),
        Resp::Nil
    ));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_payloads_are_rejected_and_the_connection_goes_on() {
    let setup = old_setup("ingest-reject", 1, 1);
    let mut config = setup.config(ConfigFile::default());
    config.ack = Some(true);
    config.max_payload = Some(200);
    let daemon = start_daemon(config).await;
    let stream = connect(daemon.addr, &setup.clients[0], &setup.server.0)
        .await
        .unwrap();
    let (reader, mut writer) = stream.into_split();
    let deep = r#"{"a": {"b": {"c": 1}}}"#;
    let oversized = format!(r#"{{"big": "{}"}}"#, "x".repeat(300));
    let nested_brackets = format!("{{\"n\": {}1{}}}", "[".repeat(60), "]".repeat(60));
    // One write with everything back to back, the last object split across two writes.
    let input = format!(
        "{{\"k1\": \"v1\"}}not json at all\n{deep}{oversized}[1, 2]{{\"k2\": nope}}{nested_brackets}{{\"k3\": {{\"f\": \"v3\"}}}}{{\"k4\""
    );
    writer.write_all(input.as_bytes()).await.unwrap();
    writer.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    writer.write_all(b": 4}\n").await.unwrap();
    writer.flush().await.unwrap();
    let mut lines = BufReader::new(reader).lines();
    let mut acks = Vec::new();
    while acks.len() < 9 {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("acks within 20 s")
            .unwrap()
            .expect("connection open");
        acks.push(line);
    }
    assert_eq!(acks[0], "ok");
    assert!(acks[1].starts_with("error: not JSON"), "{}", acks[1]);
    assert!(acks[2].contains("nested too deep"), "{}", acks[2]);
    assert!(
        acks[3].contains("exceeds the maximum of 200"),
        "{}",
        acks[3]
    );
    assert!(acks[4].contains("JSON array, not an object"), "{}", acks[4]);
    assert!(acks[5].starts_with("error: invalid JSON"), "{}", acks[5]);
    assert!(acks[6].starts_with("error: "), "{}", acks[6]);
    assert_eq!(&acks[7..], ["ok", "ok"]);
    writer.shutdown().await.unwrap();
    drop(writer);
    daemon.stop().await;
    let dump = tlswire_ingest::dump(&setup.dir.join("store.redb")).unwrap();
    assert_eq!(
        dump,
        [
            r#"SET "k1" "v1""#,
            r#"SET "k4" "4""#,
            r#"HSET "k3" "f" "v3""#
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_round_trips_through_send_and_dump() {
    let setup = old_setup("ingest-embedded", 1, 1);
    let admin = tlswire_testkit::free_port();
    let mut config = setup.config(ConfigFile::default());
    config.admin = Some(format!("127.0.0.1:{admin}"));
    let daemon = start_daemon(config).await;
    let options = tlswire_ingest::SendOptions {
        addr: daemon.addr.to_string(),
        server_name: None,
        cert: setup.clients[0].0.clone(),
        key: setup.clients[0].1.clone(),
        server_cert: setup.server.0.clone(),
        wait_for_acks: false,
    };
    let input = b"{\"a\": \"1\", \"h\": {\"x\": false}}\n{\"b\": null}{\"a\": \"2\"}";
    let report = tlswire_ingest::send(&options, input).await.unwrap();
    assert_eq!(report.sent, 3);
    wait_until("3 payloads stored", Duration::from_secs(20), || {
        daemon.stored() == 3
    })
    .await;
    let metrics = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut http = std::net::TcpStream::connect(("127.0.0.1", admin)).unwrap();
        http.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        http.read_to_string(&mut text).unwrap();
        text
    })
    .await
    .unwrap();
    assert!(metrics.starts_with("HTTP/1.1 200 OK"), "{metrics}");
    assert!(
        metrics.contains("\ntlswire_ingest_payloads_stored_total 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\ntlswire_ingest_connections_total 1\n"),
        "{metrics}"
    );
    daemon.stop().await;
    let dump = tlswire_ingest::dump(&setup.dir.join("store.redb")).unwrap();
    assert_eq!(
        dump,
        [
            r#"SET "a" "2""#,
            r#"SET "b" "null""#,
            r#"HSET "h" "x" "false""#
        ]
    );
}
