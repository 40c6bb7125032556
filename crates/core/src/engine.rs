//! The bridge to rustls's unbuffered connections: one loop that steps rustls's state machine over
//! the session's buffers until it needs more input.
//!
//! rustls's unbuffered API leaves every buffer to us, which is what lets a session free its
//! memory when idle and lets callers own the output buffer.

use std::ops::DerefMut;

use rustls::client::ClientConnectionData;
use rustls::client::UnbufferedClientConnection;
use rustls::server::ServerConnectionData;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, ReadEarlyData, UnbufferedConnectionCommon,
    UnbufferedStatus, WriteTraffic,
};

use crate::Error;

/// rustls's maximum plaintext per record; writes are coalesced into records of this size.
pub(crate) const MAX_RECORD_PLAINTEXT: usize = 16 * 1024;

/// The byte buffers and flags a session keeps beside its rustls connection.
#[derive(Debug, Default)]
pub(crate) struct Buffers {
    /// Ciphertext received; `incoming[incoming_start..]` is not yet processed.
    pub(crate) incoming: Vec<u8>,
    pub(crate) incoming_start: usize,
    /// Ciphertext ready for `poll_transmit`.
    pub(crate) outgoing: Vec<u8>,
    /// Decrypted plaintext; `plaintext_in[plaintext_in_start..]` is unread.
    pub(crate) plaintext_in: Vec<u8>,
    pub(crate) plaintext_in_start: usize,
    /// Plaintext written by the application, not yet encrypted.
    pub(crate) plaintext_out: Vec<u8>,
    pub(crate) close_requested: bool,
    pub(crate) close_notify_queued: bool,
    pub(crate) key_update_requested: bool,
    pub(crate) peer_closed: bool,
    pub(crate) fully_closed: bool,
    pub(crate) received_early_data: bool,
    /// Decryption stopped because the read buffer was full, with input possibly left over:
    /// reading must resume it, since no new input may ever come to do so.
    pub(crate) read_paused: bool,
}

impl Buffers {
    pub(crate) fn unread_plaintext(&self) -> usize {
        self.plaintext_in.len() - self.plaintext_in_start
    }

    pub(crate) fn unprocessed_input(&self) -> usize {
        self.incoming.len() - self.incoming_start
    }

    /// Frees buffers that hold nothing, so an idle session costs only its rustls state.
    pub(crate) fn release_empty(&mut self) {
        if self.incoming_start == self.incoming.len() {
            self.incoming = Vec::new();
            self.incoming_start = 0;
        }
        if self.plaintext_in_start == self.plaintext_in.len() {
            self.plaintext_in = Vec::new();
            self.plaintext_in_start = 0;
        }
        if self.plaintext_out.is_empty() {
            self.plaintext_out = Vec::new();
        }
        if self.outgoing.is_empty() {
            self.outgoing = Vec::new();
        }
    }

    /// Drops plaintext already read once it takes at least as much room as the unread rest,
    /// so a reader that never drains everything cannot make the buffer grow without bound
    /// (amortized, each byte is moved at most once).
    pub(crate) fn compact_plaintext_in(&mut self) {
        if self.plaintext_in_start > 0 && self.plaintext_in_start >= self.unread_plaintext() {
            self.plaintext_in.drain(..self.plaintext_in_start);
            self.plaintext_in_start = 0;
        }
    }

    /// Moves unprocessed input to the front so the buffer does not grow without bound.
    pub(crate) fn compact_incoming(&mut self) {
        if self.incoming_start > 0 {
            self.incoming.drain(..self.incoming_start);
            self.incoming_start = 0;
        }
    }
}

/// How much buffered plaintext to encrypt when rustls allows application data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flush {
    /// Only whole records: small writes wait to be coalesced.
    FullRecords,
    /// Everything: the caller is about to transmit.
    All,
}

/// One rustls connection type (client or server) as the driver sees it.
pub(crate) trait Unbuffered:
    DerefMut<Target = UnbufferedConnectionCommon<Self::Data>>
{
    type Data;

    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data>;

    /// Moves 0-RTT data into the plaintext buffer (servers only).
    fn read_early_data(
        state: ReadEarlyData<'_, '_, Self::Data>,
        plaintext: &mut Vec<u8>,
    ) -> Result<(), Error>;
}

impl Unbuffered for UnbufferedClientConnection {
    type Data = ClientConnectionData;

    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data> {
        self.process_tls_records(incoming)
    }

    fn read_early_data(
        _state: ReadEarlyData<'_, '_, Self::Data>,
        _plaintext: &mut Vec<u8>,
    ) -> Result<(), Error> {
        // rustls never hands early data to a client; nothing to read.
        Ok(())
    }
}

impl Unbuffered for UnbufferedServerConnection {
    type Data = ServerConnectionData;

    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data> {
        self.process_tls_records(incoming)
    }

    fn read_early_data(
        mut state: ReadEarlyData<'_, '_, Self::Data>,
        plaintext: &mut Vec<u8>,
    ) -> Result<(), Error> {
        while let Some(record) = state.next_record() {
            plaintext.extend_from_slice(record?.payload);
        }
        Ok(())
    }
}

/// What one call to [`drive`] ended with.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress {
    /// The handshake finished during this call.
    pub(crate) handshake_completed: bool,
    /// The peer's close_notify arrived during this call.
    pub(crate) peer_closed: bool,
}

/// Steps rustls until it needs more input (or the read buffer is full), encrypting buffered
/// plaintext when allowed. Every byte rustls wants sent ends up in `buf.outgoing`.
pub(crate) fn drive<C: Unbuffered>(
    conn: &mut C,
    buf: &mut Buffers,
    flush: Flush,
    max_read_buffer: usize,
) -> Result<Progress, Error> {
    let mut progress = Progress::default();
    // rustls reports traffic states for as long as there is input; a generous bound turns a
    // logic error into an error instead of a hang.
    for _ in 0..100_000 {
        if buf.unread_plaintext() >= max_read_buffer {
            buf.read_paused = true;
            return Ok(progress);
        }
        buf.compact_plaintext_in();
        let established = !conn.is_handshaking();
        let Buffers {
            incoming,
            incoming_start,
            outgoing,
            plaintext_in,
            plaintext_out,
            close_requested,
            close_notify_queued,
            key_update_requested,
            ..
        } = buf;
        let UnbufferedStatus { discard, state } = conn.process(&mut incoming[*incoming_start..]);
        let state = match state {
            Ok(state) => state,
            Err(e) => {
                *incoming_start += discard;
                let rest = &mut incoming[*incoming_start..];
                *incoming_start += collect_alert(conn, rest, outgoing);
                return Err(Error::Tls(e));
            }
        };
        let mut wait_for_input = false;
        match state {
            ConnectionState::ReadTraffic(mut traffic) => {
                while let Some(record) = traffic.next_record() {
                    plaintext_in.extend_from_slice(record?.payload);
                }
            }
            ConnectionState::ReadEarlyData(early) => {
                C::read_early_data(early, plaintext_in)?;
                buf.received_early_data = true;
            }
            ConnectionState::EncodeTlsData(mut encode) => encode_handshake(&mut encode, outgoing)?,
            ConnectionState::TransmitTlsData(transmit) => {
                // Bytes are "transmitted" once they are in `outgoing`: poll_transmit hands
                // them to the caller, who owns sending them.
                transmit.done();
            }
            ConnectionState::BlockedHandshake => wait_for_input = true,
            ConnectionState::WriteTraffic(mut traffic) => {
                // A TLS 1.3 server may write before the client's Finished; we wait for the
                // handshake to end so a client certificate is verified before any data leaves.
                if established {
                    let n = match flush {
                        Flush::All => plaintext_out.len(),
                        Flush::FullRecords => {
                            plaintext_out.len() / MAX_RECORD_PLAINTEXT * MAX_RECORD_PLAINTEXT
                        }
                    };
                    if n > 0 {
                        encrypt(&mut traffic, &plaintext_out[..n], outgoing)?;
                        plaintext_out.drain(..n);
                    }
                    if *close_requested && !*close_notify_queued && plaintext_out.is_empty() {
                        queue_close_notify(&mut traffic, outgoing)?;
                        *close_notify_queued = true;
                    }
                }
                if *key_update_requested && established {
                    *key_update_requested = false;
                    traffic.refresh_traffic_keys()?;
                } else {
                    wait_for_input = true;
                }
            }
            ConnectionState::PeerClosed => {
                buf.peer_closed = true;
                progress.peer_closed = true;
            }
            ConnectionState::Closed => {
                buf.fully_closed = true;
                wait_for_input = true;
            }
            _ => wait_for_input = true,
        }
        buf.incoming_start += discard;
        if !established && !conn.is_handshaking() {
            progress.handshake_completed = true;
            // One more round so that writes made during the handshake go out now.
            continue;
        }
        if wait_for_input {
            buf.read_paused = false;
            return Ok(progress);
        }
    }
    Err(Error::Tls(rustls::Error::General(
        "TLS state machine made no progress".into(),
    )))
}

/// After rustls reported an error, collects the fatal alert it queued so the peer learns why;
/// returns how many more input bytes rustls discarded.
///
/// One call only: the alert is the first thing rustls hands out after an error, and calling
/// again would make it parse the bad input a second time and queue a second fatal alert (a
/// debug assertion in rustls; rustls/rustls#959).
fn collect_alert<C: Unbuffered>(
    conn: &mut C,
    incoming: &mut [u8],
    outgoing: &mut Vec<u8>,
) -> usize {
    // rustls remembers positions in the input it has seen, so it must be shown the same
    // unprocessed bytes again even though nothing more will be read from them.
    let UnbufferedStatus { state, discard } = conn.process(incoming);
    if let Ok(ConnectionState::EncodeTlsData(mut encode)) = state {
        // The session is failing already; an alert that cannot be encoded is simply not sent.
        let _ = encode_handshake(&mut encode, outgoing);
    }
    discard
}

fn encode_handshake<D>(
    encode: &mut rustls::unbuffered::EncodeTlsData<'_, D>,
    outgoing: &mut Vec<u8>,
) -> Result<(), Error> {
    let start = outgoing.len();
    // Asking with no room first tells the exact size, so nothing is zero-filled in vain.
    let mut room = match encode.encode(&mut []) {
        Err(EncodeError::InsufficientSize(e)) => e.required_size,
        Ok(_) | Err(EncodeError::AlreadyEncoded) => return Ok(()),
    };
    loop {
        outgoing.resize(start + room, 0);
        match encode.encode(&mut outgoing[start..]) {
            Ok(n) => {
                outgoing.truncate(start + n);
                return Ok(());
            }
            Err(EncodeError::InsufficientSize(e)) if e.required_size > room => {
                room = e.required_size;
            }
            Err(EncodeError::InsufficientSize(_)) => {
                // rustls asked for no more room than it had: never loop on it.
                outgoing.truncate(start);
                return Err(Error::Tls(rustls::Error::General(
                    "TLS record encoding failed".into(),
                )));
            }
            Err(EncodeError::AlreadyEncoded) => {
                outgoing.truncate(start);
                return Ok(());
            }
        }
    }
}

fn encrypt<D>(
    traffic: &mut WriteTraffic<'_, D>,
    plaintext: &[u8],
    outgoing: &mut Vec<u8>,
) -> Result<(), Error> {
    let start = outgoing.len();
    // Per record: 5 header bytes, 1 content type, 16 tag bytes, and up to 8 bytes of explicit
    // nonce in TLS 1.2; rustls tells us if that guess is short.
    let records = plaintext.len().div_ceil(MAX_RECORD_PLAINTEXT) + 1;
    let mut room = plaintext.len() + records * 40;
    loop {
        outgoing.resize(start + room, 0);
        match traffic.encrypt(plaintext, &mut outgoing[start..]) {
            Ok(n) => {
                outgoing.truncate(start + n);
                return Ok(());
            }
            Err(EncryptError::InsufficientSize(e)) if e.required_size > room => {
                room = e.required_size;
            }
            Err(_) => {
                outgoing.truncate(start);
                return Err(Error::Tls(rustls::Error::EncryptError));
            }
        }
    }
}

fn queue_close_notify<D>(
    traffic: &mut WriteTraffic<'_, D>,
    outgoing: &mut Vec<u8>,
) -> Result<(), Error> {
    let start = outgoing.len();
    let mut room = 64;
    loop {
        outgoing.resize(start + room, 0);
        match traffic.queue_close_notify(&mut outgoing[start..]) {
            Ok(n) => {
                outgoing.truncate(start + n);
                return Ok(());
            }
            Err(EncryptError::InsufficientSize(e)) if e.required_size > room => {
                room = e.required_size;
            }
            Err(_) => {
                outgoing.truncate(start);
                return Err(Error::Tls(rustls::Error::EncryptError));
            }
        }
    }
}
