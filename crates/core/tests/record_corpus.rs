//! Records the seed corpora of the fuzz targets from real in-memory handshakes with the fixed
//! fuzz certificates, and writes them under `fuzz/corpus/<target>/`.
//!
//! Ignored by default (it rewrites checked-in files); run it after changing a target's input
//! format:
//!
//! ```text
//! cargo test -p tlswire-core --test record_corpus -- --ignored
//! ```

#[allow(dead_code, unreachable_pub, missing_docs, clippy::expect_used)]
#[path = "../../../fuzz/src/core_entry.rs"]
mod core_entry;

use std::path::{Path, PathBuf};
use std::time::Instant;

use core_entry::{drain, feed, fixture};
use tlswire_core::Session;

/// The bytes each way of one complete connection: handshake, a request and an answer, and
/// close_notify both ways.
struct Recording {
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    /// The client's first flight alone (its ClientHello).
    client_hello: Vec<u8>,
}

fn record(config: usize, server_name: &str) -> Recording {
    let f = fixture();
    let now = Instant::now();
    let mut client = Session::client(f.clients[config].clone(), server_name).expect("client");
    let mut server = Session::server(f.servers[config].clone()).expect("server");
    client.handle_timeout(now);
    server.handle_timeout(now);
    client.write(b"GET / HTTP/1.1\r\n\r\n").expect("request");
    let client_hello = drain(&mut client, true);
    let mut rec = Recording {
        to_server: client_hello.clone(),
        to_client: Vec::new(),
        client_hello: client_hello.clone(),
    };
    let mut pending = client_hello;
    for round in 0..20 {
        let mut back = feed(&mut server, &pending, 0, now, true).expect("server accepts");
        if round == 1 {
            server.write(b"HTTP/1.1 200 OK\r\n\r\n").expect("answer");
            server.close(now);
        }
        back.extend(drain(&mut server, true));
        rec.to_client.extend_from_slice(&back);
        pending = feed(&mut client, &back, 0, now, true).expect("client accepts");
        if round == 1 {
            client.close(now);
        }
        pending.extend(drain(&mut client, true));
        rec.to_server.extend_from_slice(&pending);
        if pending.is_empty() && back.is_empty() {
            break;
        }
    }
    assert!(
        !client.is_handshaking() && !server.is_handshaking(),
        "config {config} {server_name}: client {:?} server {:?}",
        client.error(),
        server.error()
    );
    rec
}

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    std::fs::create_dir_all(&dir).expect("corpus dir");
    dir
}

fn seed(target: &str, name: &str, parts: &[&[u8]]) {
    std::fs::write(corpus(target).join(name), parts.concat()).expect("write seed");
}

#[test]
#[ignore = "rewrites fuzz/corpus; run with --ignored after changing an input format"]
fn record_seed_corpora() {
    let names = ["both", "tls12_mtls", "tls13_optional"];
    for (i, name) in names.iter().enumerate() {
        let rec = record(i, "localhost");
        let which = [i as u8];
        seed("server_fresh", name, &[&[0], &which, &rec.to_server]);
        seed("client_fresh", name, &[&[0], &which, &rec.to_client]);
        seed(
            "server_fresh",
            &format!("{name}_bytewise"),
            &[&[1], &which, &rec.to_server],
        );
        seed(
            "client_fresh",
            &format!("{name}_in_7s"),
            &[&[7], &which, &rec.to_client],
        );
        seed(
            "accept",
            &format!("{name}_localhost"),
            &[&[0, 0], &rec.to_server],
        );
        seed(
            "accept",
            &format!("{name}_hello_in_3s"),
            &[&[3, 0], &rec.client_hello],
        );
    }
    let wildcard = record(1, "api.example.test");
    seed("accept", "wildcard_mtls", &[&[0, 0], &wildcard.to_server]);
    let no_sni = record(2, "127.0.0.1");
    seed("accept", "no_sni_default", &[&[0, 0], &no_sni.to_server]);
    seed(
        "accept",
        "no_sni_plaintext_policy",
        &[&[0, 1], &no_sni.client_hello],
    );
    seed(
        "accept",
        "http_plaintext",
        &[&[0, 1], b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"],
    );
    seed(
        "accept",
        "redis_refused",
        &[&[0, 0], b"*1\r\n$4\r\nPING\r\n"],
    );
    seed(
        "accept",
        "sslv2_hello",
        &[&[0, 0], &[0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15]],
    );
    seed(
        "accept",
        "alert_first",
        &[&[0, 0], &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]],
    );

    let pki = [
        ("ca", core_entry::CA_PEM),
        ("server_cert", core_entry::SERVER_CERT_PEM),
        ("server_key", core_entry::SERVER_KEY_PEM),
        ("client_cert", core_entry::CLIENT_CERT_PEM),
    ];
    for (name, pem) in pki {
        seed("pem", name, &[pem]);
    }
    let server = core_entry::SERVER_CERT_PEM;
    seed(
        "pem",
        "chain_and_key",
        &[server, core_entry::CA_PEM, core_entry::SERVER_KEY_PEM],
    );
    seed(
        "pem",
        "mismatched_key",
        &[server, core_entry::CLIENT_KEY_PEM],
    );
    seed("pem", "truncated_cert", &[&server[..server.len() / 2]]);
    seed(
        "pem",
        "not_base64",
        &[b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"],
    );

    // Scripts for the established-state targets (op codes in core_entry::established_script).
    let hello = &record(1, "localhost").client_hello;
    let hello_len = [(hello.len() >> 8) as u8, hello.len() as u8];
    let scripts: [(&str, &[&[u8]]); 11] = [
        ("data_both_ways", &[&[0, 0, 10, 4, 5, 10, 4]]),
        (
            "reader_stops",
            &[&[2, 13, 0, 255, 0, 255, 0, 255, 0, 255, 4]],
        ),
        ("flipped_byte", &[&[0, 2, 9, 0x40, 10, 4]]),
        ("flipped_header", &[&[1, 2, 0, 0x01, 3]]),
        ("truncated_then_eof", &[&[0, 3, 11, 8]]),
        ("key_updates", &[&[2, 6, 0, 1, 4, 11, 5, 3, 0, 2]]),
        ("close_both", &[&[0, 0, 2, 7, 9, 4, 10, 6]]),
        ("tls12_eof", &[&[1, 0, 1, 8, 5, 1]]),
        ("timeouts", &[&[2, 9, 10, 4, 10, 9]]),
        ("bytewise", &[&[0, 12, 1, 0, 5, 12, 0, 0, 1]]),
        ("renegotiation_hello", &[&[1, 1], &hello_len, hello]),
    ];
    for (name, parts) in scripts {
        seed("server_established", name, parts);
        seed("client_established", name, parts);
    }
}
