//! The stores payloads are written to: Redis (one server or a cluster) or the embedded redb
//! store, behind one `write` that takes a batch of payloads.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use crate::mapping::Op;
use crate::redis::{ClusterRedis, SingleRedis};
use crate::IngestError;

/// One payload's outcome: `Err` holds the store's refusal (such as `WRONGTYPE`).
pub(crate) type PayloadResult = Result<(), String>;

/// A batch's outcome: per payload, or `Err` when the store could not be reached at all (the
/// batch is then spooled and written again later).
pub(crate) type BatchResult = Result<Vec<PayloadResult>, String>;

const STRINGS: TableDefinition<&str, &str> = TableDefinition::new("strings");
const HASHES: TableDefinition<(&str, &str), &str> = TableDefinition::new("hashes");

/// The embedded store: redb tables `strings` (key → value) and `hashes` ((key, field) →
/// value), written with Redis's semantics: `SET` replaces a hash, `HSET` on a string fails
/// with `WRONGTYPE`.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<redb::Database>,
    path: PathBuf,
}

fn embedded_error(path: &Path, e: impl std::fmt::Display) -> IngestError {
    IngestError::Embedded {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

impl EmbeddedStore {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, IngestError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                IngestError::io(format!("cannot create directory {}", parent.display()), e)
            })?;
        }
        let db = redb::Database::create(path).map_err(|e| embedded_error(path, e))?;
        let txn = db.begin_write().map_err(|e| embedded_error(path, e))?;
        txn.open_table(STRINGS)
            .map_err(|e| embedded_error(path, e))?;
        txn.open_table(HASHES)
            .map_err(|e| embedded_error(path, e))?;
        txn.commit().map_err(|e| embedded_error(path, e))?;
        Ok(Self {
            db: Arc::new(db),
            path: path.to_owned(),
        })
    }

    /// Writes a batch in one durable transaction.
    pub fn write(&self, payloads: &[Vec<Op>]) -> Result<Vec<Result<(), String>>, IngestError> {
        let err = |e: &dyn std::fmt::Display| embedded_error(&self.path, e);
        let txn = self.db.begin_write().map_err(|e| err(&e))?;
        let mut results = Vec::with_capacity(payloads.len());
        {
            let mut strings = txn.open_table(STRINGS).map_err(|e| err(&e))?;
            let mut hashes = txn.open_table(HASHES).map_err(|e| err(&e))?;
            for ops in payloads {
                let mut result = Ok(());
                for op in ops {
                    match op {
                        Op::Set { key, value } => {
                            let fields: Vec<String> = hashes
                                .range((key.as_str(), "")..)
                                .map_err(|e| err(&e))?
                                .map_while(|entry| {
                                    let (k, _) = entry.ok()?;
                                    let (hash, field) = k.value();
                                    (hash == key).then(|| field.to_owned())
                                })
                                .collect();
                            for field in fields {
                                hashes
                                    .remove((key.as_str(), field.as_str()))
                                    .map_err(|e| err(&e))?;
                            }
                            strings
                                .insert(key.as_str(), value.as_str())
                                .map_err(|e| err(&e))?;
                        }
                        Op::HSet { key, field, value } => {
                            if strings.get(key.as_str()).map_err(|e| err(&e))?.is_some() {
                                result = Err("WRONGTYPE Operation against a key holding the wrong kind of value".to_owned());
                                continue;
                            }
                            hashes
                                .insert((key.as_str(), field.as_str()), value.as_str())
                                .map_err(|e| err(&e))?;
                        }
                    }
                }
                results.push(result);
            }
        }
        txn.commit().map_err(|e| err(&e))?;
        Ok(results)
    }

    /// Every stored write, as `Op`s: strings first, then hash fields, each sorted by key.
    pub fn dump(&self) -> Result<Vec<Op>, IngestError> {
        let err = |e: &dyn std::fmt::Display| embedded_error(&self.path, e);
        let txn = self.db.begin_read().map_err(|e| err(&e))?;
        let mut ops = Vec::new();
        let strings = txn.open_table(STRINGS).map_err(|e| err(&e))?;
        for entry in strings.iter().map_err(|e| err(&e))? {
            let (key, value) = entry.map_err(|e| err(&e))?;
            ops.push(Op::Set {
                key: key.value().to_owned(),
                value: value.value().to_owned(),
            });
        }
        let hashes = txn.open_table(HASHES).map_err(|e| err(&e))?;
        for entry in hashes.iter().map_err(|e| err(&e))? {
            let (key, value) = entry.map_err(|e| err(&e))?;
            let (hash, field) = key.value();
            ops.push(Op::HSet {
                key: hash.to_owned(),
                field: field.to_owned(),
                value: value.value().to_owned(),
            });
        }
        Ok(ops)
    }
}

/// Where batches go.
pub(crate) enum Backend {
    Redis(SingleRedis),
    Cluster(ClusterRedis),
    Embedded(EmbeddedStore),
}

impl Backend {
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Redis(r) => r.describe(),
            Self::Cluster(c) => c.describe(),
            Self::Embedded(e) => format!("embedded store {}", e.path.display()),
        }
    }

    /// Whether failures should go to the spool (the embedded store is its own disk).
    pub(crate) fn is_remote(&self) -> bool {
        !matches!(self, Self::Embedded(_))
    }

    pub(crate) async fn write(&mut self, payloads: Arc<Vec<Vec<Op>>>) -> BatchResult {
        match self {
            Self::Redis(r) => r.write(&payloads).await,
            Self::Cluster(c) => c.write(&payloads).await,
            Self::Embedded(store) => {
                let store = store.clone();
                tokio::task::spawn_blocking(move || store.write(&payloads))
                    .await
                    .map_err(|e| format!("embedded store task failed: {e}"))?
                    .map_err(|e| e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_store_has_redis_semantics() {
        let dir = tlswire_testkit::temp_dir("ingest-embedded");
        let store = EmbeddedStore::open(&dir.join("db.redb")).unwrap();
        let hset = |k: &str, f: &str, v: &str| Op::HSet {
            key: k.into(),
            field: f.into(),
            value: v.into(),
        };
        let set = |k: &str, v: &str| Op::Set {
            key: k.into(),
            value: v.into(),
        };
        let results = store
            .write(&[
                vec![hset("h", "f", "1"), hset("h", "g", "2")],
                vec![set("s", "x")],
                vec![hset("s", "f", "oops")],
            ])
            .unwrap();
        assert!(results[0].is_ok() && results[1].is_ok());
        assert!(results[2].as_ref().unwrap_err().starts_with("WRONGTYPE"));
        store.write(&[vec![set("h", "now a string")]]).unwrap();
        drop(store);
        let reopened = EmbeddedStore::open(&dir.join("db.redb")).unwrap();
        assert_eq!(
            reopened.dump().unwrap(),
            [set("h", "now a string"), set("s", "x")]
        );
    }
}
