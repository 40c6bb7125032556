//! The tlswire ingest daemon as a library: JSON dicts over mutual TLS in, Redis (or an
//! embedded redb store) out.
//!
//! It replaces a small Python asyncio daemon and stays compatible with its clients and its
//! setup: port 1191, a server certificate plus a `client_certs.crt` bundle of pinned
//! self-signed client certificates (or a client CA), and clients that call
//! `sock.send(json.dumps(d).encode())` with no delimiter.
//!
//! ```text
//! client ──mTLS──► connection task ──Framer──► map_payload ──Job──► writer task ──► Redis
//!                    (one per client)           (SET / HSET)        (batches,      │ down?
//!                    acks ◄─────────────────────────────────────── pipelined)  spool on disk
//! ```
//!
//! - [`Framer`] finds each top-level JSON value in the byte stream (back to back, split across
//!   reads, or newline-delimited) and enforces the maximum payload size.
//! - [`map_payload`] turns `{k: v}` into `SET k v` and `{k: {f: v}}` into `HSET k f v`;
//!   anything else is [`Rejected`] with a reason, and the connection goes on.
//! - One writer task batches every connection's payloads into pipelined writes. While the
//!   store is down, batches go to a bounded on-disk spool and are replayed in order; when the
//!   spool is full, connections stop reading (TCP back-pressure). Nothing accepted is dropped.
//! - In ack mode each payload gets a line, `ok` or `error: <reason>`, once it is stored.
//!
//! The daemon is [`Ingest`]: `Ingest::bind(settings).await?.run(shutdown).await`.
//!
//! # Panics, errors and unwraps
//!
//! No client input makes the daemon panic: bad payloads are rejected one by one, bad
//! handshakes end that connection. Configuration problems are [`IngestError`]s naming the
//! file, key or address at fault.

mod client;
mod config;
mod dev;
mod error;
mod framer;
mod mapping;
mod metrics;
mod redis;
mod resp;
mod server;
mod spool;
mod store;
mod tls;
mod writer;

pub use client::{send, SendOptions, SendReport};
pub use config::{ClientAuthFile, ConfigFile, RedisTls, Settings, Storage, DEFAULT_PORT};
pub use dev::{prepare_dev, DevSetup};
pub use error::IngestError;
pub use framer::{Frame, Framer};
pub use mapping::{map_payload, Op, Rejected};
pub use metrics::Metrics;
pub use redis::RedisUrl;
pub use server::{shutdown_signal, Ingest};
pub use store::EmbeddedStore;
pub use tls::{server_config, subject_of};

/// Reads the embedded store at `path` and returns its contents as lines
/// (`SET "key" "value"` and `HSET "key" "field" "value"`, JSON-quoted).
pub fn dump(path: &std::path::Path) -> Result<Vec<String>, IngestError> {
    if !path.exists() {
        return Err(IngestError::Embedded {
            path: path.to_owned(),
            reason: "no such file (the daemon creates it on its first start)".into(),
        });
    }
    let store = EmbeddedStore::open(path)?;
    let quote = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
    Ok(store
        .dump()?
        .into_iter()
        .map(|op| match op {
            Op::Set { key, value } => format!("SET {} {}", quote(&key), quote(&value)),
            Op::HSet { key, field, value } => {
                format!("HSET {} {} {}", quote(&key), quote(&field), quote(&value))
            }
        })
        .collect())
}
