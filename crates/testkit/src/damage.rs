//! Hostile TLS clients for servers' hostile-input suites: a real client whose flight at a chosen
//! stage of the handshake is damaged, and a check that the server then closes the connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tlswire_core::rustls::ClientConfig;
use tlswire_core::Session;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound on every wait for the server, so a hang fails the test instead of stalling CI.
const WAIT: Duration = Duration::from_secs(30);

/// How a flight of the client is damaged before it is sent.
#[derive(Clone, Copy, Debug)]
pub enum Damage {
    /// Half of it is sent, then the write side is closed.
    TruncatedThenEof,
    /// A byte in the middle is flipped.
    FlippedByte,
    /// A record header claiming 18,433 bytes (more than TLS allows), followed by them.
    OversizedRecord,
    /// A record with content type 0x63, which does not exist.
    UnknownContentType,
    /// A record header announcing more bytes than ever come, then silence (after the handshake
    /// only an idle timeout ends such a connection).
    LengthLies,
}

/// Every kind of damage.
pub const DAMAGES: [Damage; 5] = [
    Damage::TruncatedThenEof,
    Damage::FlippedByte,
    Damage::OversizedRecord,
    Damage::UnknownContentType,
    Damage::LengthLies,
];

impl Damage {
    /// `flight` as this damage sends it.
    pub fn apply(self, mut flight: Vec<u8>) -> Vec<u8> {
        match self {
            Self::TruncatedThenEof => {
                flight.truncate(flight.len() / 2);
                flight
            }
            Self::FlippedByte => {
                let middle = flight.len() / 2;
                flight[middle] ^= 0x20;
                flight
            }
            Self::OversizedRecord => {
                let mut record = vec![0x17, 0x03, 0x03, 0x48, 0x01];
                record.resize(5 + 0x4801, 0xaa);
                record
            }
            Self::UnknownContentType => vec![0x63, 0x03, 0x03, 0x00, 0x04, 1, 2, 3, 4],
            Self::LengthLies => vec![0x16, 0x03, 0x03, 0x40, 0x00, 0x01],
        }
    }
}

/// Runs a real client (SNI `localhost`) against `addr` and damages its `stage`th flight (0: the
/// ClientHello, 1: the flight with its Finished, 2: the first application data, `app_data`);
/// returns the connection right after the damaged bytes went out.
pub async fn damaged_connection(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    stage: usize,
    damage: Damage,
    app_data: &[u8],
) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut session = Session::client(config, "localhost").unwrap();
    session.handle_timeout(Instant::now());
    let mut flights = 0;
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..100 {
        let mut out = Vec::new();
        if !session.is_handshaking() && flights == 2 {
            session.write(app_data).unwrap();
        }
        let _ = session.poll_transmit(&mut out);
        if !out.is_empty() {
            if flights == stage {
                tcp.write_all(&damage.apply(out)).await.unwrap();
                if matches!(damage, Damage::TruncatedThenEof) {
                    tcp.shutdown().await.unwrap();
                }
                return tcp;
            }
            tcp.write_all(&out).await.unwrap();
            flights += 1;
            continue;
        }
        let n = tokio::time::timeout(WAIT, tcp.read(&mut buf))
            .await
            .expect("the server went silent during the handshake")
            .unwrap();
        assert!(n > 0, "the server closed before stage {stage}");
        session.handle_input(&buf[..n], Instant::now()).unwrap();
        while let Some(chunk) = session.read_chunk() {
            let len = chunk.len();
            session.consume(len);
        }
    }
    panic!("stage {stage} never reached");
}

/// Reads until the server closes `stream` (or resets it); panics, naming `what`, if it is
/// still open after 30 s.
pub async fn closed_by_server(stream: &mut TcpStream, what: &str) {
    let mut buf = vec![0u8; 64 * 1024];
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "{what}: the server kept the connection open"
    );
}
