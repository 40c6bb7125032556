//! An in-memory client/server pair with a fake clock, in the manner of quinn-proto's `Pair`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tlswire_core::{Error, Event, Session};

/// Which end of a [`Pair`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// One end's session plus what it has received.
pub struct End {
    pub session: Session,
    pub events: Vec<Event>,
    pub received: Vec<u8>,
    pub error: Option<Error>,
    /// Ciphertext this end sent that the other has not taken yet.
    pub in_flight: Vec<u8>,
}

impl End {
    fn new(session: Session) -> Self {
        Self {
            session,
            events: Vec::new(),
            received: Vec::new(),
            error: None,
            in_flight: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Some(chunk) = self.session.read_chunk() {
            self.received.extend_from_slice(chunk);
            let n = chunk.len();
            self.session.consume(n);
        }
        while let Some(event) = self.session.poll_event() {
            if let Event::Failed(e) = &event {
                self.error.get_or_insert(e.clone());
            }
            self.events.push(event);
        }
    }

    /// Moves this end's pending output into `in_flight`.
    fn transmit(&mut self) -> usize {
        let n = self.session.poll_transmit(&mut self.in_flight);
        self.drain();
        n
    }

    /// Feeds `bytes` to this end in chunks of the given sizes (cycled), draining after each.
    fn feed(&mut self, mut bytes: &[u8], chunks: &mut dyn FnMut() -> usize, now: Instant) {
        while !bytes.is_empty() && self.error.is_none() {
            let size = chunks().clamp(1, bytes.len());
            let mut chunk = &bytes[..size];
            while !chunk.is_empty() {
                match self.session.handle_input(chunk, now) {
                    Ok(n) => {
                        chunk = &chunk[n..];
                        bytes = &bytes[n..];
                        self.drain();
                        if n == 0 && self.session.readable_bytes() == 0 {
                            // Nothing more can go in (peer closed): drop the rest.
                            return;
                        }
                    }
                    Err(e) => {
                        self.error = Some(e);
                        self.drain();
                        return;
                    }
                }
            }
        }
    }

    pub fn saw(&self, pred: impl Fn(&Event) -> bool) -> bool {
        self.events.iter().any(pred)
    }

    pub fn handshake_complete(&self) -> bool {
        self.saw(|e| matches!(e, Event::HandshakeComplete(_)))
    }
}

/// A client and a server session joined by an in-memory network and a fake clock.
pub struct Pair {
    pub client: End,
    pub server: End,
    pub now: Instant,
}

impl Pair {
    pub fn new(client: Session, server: Session) -> Self {
        let now = Instant::now();
        let mut pair = Self {
            client: End::new(client),
            server: End::new(server),
            now,
        };
        pair.client.session.handle_timeout(now);
        pair.server.session.handle_timeout(now);
        pair
    }

    pub fn from_configs(
        client: Arc<rustls::ClientConfig>,
        server: Arc<rustls::ServerConfig>,
        name: &str,
    ) -> Self {
        Self::new(
            Session::client(client, name).unwrap(),
            Session::server(server).unwrap(),
        )
    }

    pub fn end(&mut self, side: Side) -> &mut End {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    /// Moves everything each side has to send to the other, in whole chunks. Returns whether
    /// any byte moved.
    pub fn step(&mut self) -> bool {
        self.step_chunked(&mut || usize::MAX)
    }

    /// Like [`step`](Self::step), delivering in chunks of the sizes `chunks` yields.
    pub fn step_chunked(&mut self, chunks: &mut dyn FnMut() -> usize) -> bool {
        self.client.transmit();
        self.server.transmit();
        let to_server = std::mem::take(&mut self.client.in_flight);
        let to_client = std::mem::take(&mut self.server.in_flight);
        let now = self.now;
        self.server.feed(&to_server, chunks, now);
        self.client.feed(&to_client, chunks, now);
        !to_server.is_empty() || !to_client.is_empty()
    }

    /// Steps until nothing moves (at most 10,000 steps).
    pub fn run(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("pair did not settle in 10,000 steps");
    }

    /// Runs the handshake; `Ok` when both sides completed it.
    pub fn handshake(&mut self) -> Result<(), String> {
        self.run();
        if self.client.handshake_complete() && self.server.handshake_complete() {
            Ok(())
        } else {
            Err(format!(
                "client: {:?}, server: {:?}",
                self.client.error, self.server.error
            ))
        }
    }

    /// Writes all of `data` from `side`, running the network as the buffers fill.
    pub fn send(&mut self, side: Side, mut data: &[u8]) {
        for _ in 0..1_000_000 {
            if data.is_empty() {
                self.run();
                return;
            }
            let n = self.end(side).session.write(data).expect("write");
            data = &data[n..];
            self.step();
        }
        panic!("send made no progress");
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        let now = self.now;
        self.client.session.handle_timeout(now);
        self.server.session.handle_timeout(now);
        self.client.drain();
        self.server.drain();
    }
}
