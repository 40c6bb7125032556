//! Session-ticket keys read from a file, so several proxy instances behind one name resume each
//! other's sessions, and rotated by editing the file.
//!
//! The file holds one key per line, 64 hex digits (32 bytes); blank lines and `#` comments are
//! ignored. The first key seals new tickets; every key opens them, so rotation is: put a new
//! key first, keep the old one below it for a ticket lifetime, then drop it.
//!
//! A ticket is `key id (4 bytes) || nonce (12) || AES-256-GCM(state) || tag (16)`, where the
//! key id is the first four bytes of the key's SHA-256 and authenticates as associated data.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::digest::{digest, SHA256};
use tlswire_core::rustls::server::ProducesTickets;

const KEY_ID_LEN: usize = 4;

struct TicketKey {
    id: [u8; KEY_ID_LEN],
    key: LessSafeKey,
}

/// A [`ProducesTickets`] over keys from a file.
pub struct FileTicketer {
    path: PathBuf,
    lifetime: u32,
    keys: RwLock<Vec<TicketKey>>,
}

impl fmt::Debug for FileTicketer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileTicketer")
            .field("path", &self.path)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl FileTicketer {
    /// Loads the keys in `path`; tickets claim to live `lifetime` seconds.
    pub fn load(path: &Path, lifetime: u32) -> Result<Self, String> {
        let keys = read_keys(path)?;
        Ok(Self {
            path: path.to_owned(),
            lifetime,
            keys: RwLock::new(keys),
        })
    }

    /// Reads the file again; on error the old keys stay and the error says why.
    pub fn reload(&self) -> Result<(), String> {
        let keys = read_keys(&self.path)?;
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
        Ok(())
    }

    /// The key file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn read_keys(path: &Path) -> Result<Vec<TicketKey>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read ticket keys: {e}", path.display()))?;
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bytes = decode_hex(line).ok_or_else(|| {
            format!(
                "{}:{}: a ticket key is 64 hex digits (32 bytes)",
                path.display(),
                i + 1
            )
        })?;
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| format!("{}:{}: unusable ticket key", path.display(), i + 1))?;
        let hash = digest(&SHA256, &bytes);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&hash.as_ref()[..KEY_ID_LEN]);
        keys.push(TicketKey {
            id,
            key: LessSafeKey::new(unbound),
        });
    }
    if keys.is_empty() {
        return Err(format!("{}: no ticket keys in the file", path.display()));
    }
    Ok(keys)
}

fn decode_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl ProducesTickets for FileTicketer {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        self.lifetime
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let current = keys.first()?;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).ok()?;
        let mut sealed = plain.to_vec();
        current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(current.id),
                &mut sealed,
            )
            .ok()?;
        let mut ticket = Vec::with_capacity(KEY_ID_LEN + NONCE_LEN + sealed.len());
        ticket.extend_from_slice(&current.id);
        ticket.extend_from_slice(&nonce);
        ticket.extend_from_slice(&sealed);
        Some(ticket)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        let id: [u8; KEY_ID_LEN] = cipher.get(..KEY_ID_LEN)?.try_into().ok()?;
        let nonce: [u8; NONCE_LEN] = cipher
            .get(KEY_ID_LEN..KEY_ID_LEN + NONCE_LEN)?
            .try_into()
            .ok()?;
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let key = keys.iter().find(|k| k.id == id)?;
        let mut sealed = cipher.get(KEY_ID_LEN + NONCE_LEN..)?.to_vec();
        let plain = key
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(id),
                &mut sealed,
            )
            .ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const KEY_B: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f";

    #[test]
    fn instances_share_and_rotate() {
        let dir = tlswire_testkit::temp_dir("tickets");
        let path = dir.join("keys");
        std::fs::write(&path, format!("# current\n{KEY_A}\n")).unwrap();
        let one = FileTicketer::load(&path, 60).unwrap();
        let two = FileTicketer::load(&path, 60).unwrap();
        let ticket = one.encrypt(b"state").unwrap();
        assert_eq!(two.decrypt(&ticket).unwrap(), b"state");

        std::fs::write(&path, format!("{KEY_B}\n{KEY_A}\n")).unwrap();
        two.reload().unwrap();
        assert_eq!(
            two.decrypt(&ticket).unwrap(),
            b"state",
            "old key still opens"
        );
        let newer = two.encrypt(b"next").unwrap();
        assert!(
            one.decrypt(&newer).is_none(),
            "one has not loaded key B yet"
        );

        let mut tampered = ticket.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(one.decrypt(&tampered).is_none());
        assert!(one.decrypt(&[1, 2, 3]).is_none());

        std::fs::write(&path, "not hex\n").unwrap();
        let err = one.reload().unwrap_err();
        assert!(err.contains(":1: a ticket key is 64 hex digits"), "{err}");
        assert_eq!(
            one.decrypt(&ticket).unwrap(),
            b"state",
            "bad file keeps old keys"
        );
    }
}
