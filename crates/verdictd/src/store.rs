//! The embedded store: resources, policies and reference values in one `redb` file.
//!
//! redb commits are durable (fsync before a commit returns) and copy-on-write, so a
//! `kill -9` at any point leaves either the old or the new state, never a torn one.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use zeroize::Zeroizing;

/// Resources by path `repo/type/tag`.
const RESOURCES: TableDefinition<&str, &[u8]> = TableDefinition::new("resources");
/// Policies by kind (`attestation`, `resource`): Rego text.
const POLICIES: TableDefinition<&str, &str> = TableDefinition::new("policies");
/// Reference values by name: a JSON array.
const REFERENCE: TableDefinition<&str, &str> = TableDefinition::new("reference_values");

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[error("store {op} failed")]
pub struct StoreError {
    op: &'static str,
    #[source]
    source: redb::Error,
}

fn fail<E: Into<redb::Error>>(op: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError {
        op,
        source: e.into(),
    }
}

/// The store handle (cheap to share: redb is internally synchronised).
#[derive(Debug)]
pub struct Store {
    db: Database,
}

/// Which policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Claims ⇒ EAR status.
    Attestation,
    /// Token claims + resource path ⇒ allow.
    Resource,
}

impl PolicyKind {
    fn key(self) -> &'static str {
        match self {
            Self::Attestation => "attestation",
            Self::Resource => "resource",
        }
    }
}

impl Store {
    /// Open (or create) the store file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(fail("open"))?;
        let tx = db.begin_write().map_err(fail("open"))?;
        tx.open_table(RESOURCES).map_err(fail("open"))?;
        tx.open_table(POLICIES).map_err(fail("open"))?;
        tx.open_table(REFERENCE).map_err(fail("open"))?;
        tx.commit().map_err(fail("open"))?;
        Ok(Self { db })
    }

    /// Store a resource (replacing any previous value).
    pub fn put_resource(&self, path: &str, value: &[u8]) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(fail("write"))?;
        tx.open_table(RESOURCES)
            .map_err(fail("write"))?
            .insert(path, value)
            .map_err(fail("write"))?;
        tx.commit().map_err(fail("commit"))
    }

    /// A resource's bytes.
    pub fn resource(&self, path: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let tx = self.db.begin_read().map_err(fail("read"))?;
        let table = tx.open_table(RESOURCES).map_err(fail("read"))?;
        let value = table.get(path).map_err(fail("read"))?;
        Ok(value.map(|v| Zeroizing::new(v.value().to_vec())))
    }

    /// Delete a resource; whether it existed.
    pub fn delete_resource(&self, path: &str) -> Result<bool, StoreError> {
        let tx = self.db.begin_write().map_err(fail("write"))?;
        let existed = tx
            .open_table(RESOURCES)
            .map_err(fail("write"))?
            .remove(path)
            .map_err(fail("write"))?
            .is_some();
        tx.commit().map_err(fail("commit"))?;
        Ok(existed)
    }

    /// Every resource path, sorted.
    pub fn list_resources(&self) -> Result<Vec<String>, StoreError> {
        let tx = self.db.begin_read().map_err(fail("read"))?;
        let table = tx.open_table(RESOURCES).map_err(fail("read"))?;
        let mut out = Vec::new();
        for item in table.iter().map_err(fail("read"))? {
            let (key, _) = item.map_err(fail("read"))?;
            out.push(key.value().to_owned());
        }
        Ok(out)
    }

    /// Store a policy.
    pub fn put_policy(&self, kind: PolicyKind, rego: &str) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(fail("write"))?;
        tx.open_table(POLICIES)
            .map_err(fail("write"))?
            .insert(kind.key(), rego)
            .map_err(fail("write"))?;
        tx.commit().map_err(fail("commit"))
    }

    /// A stored policy, if the operator set one.
    pub fn policy(&self, kind: PolicyKind) -> Result<Option<String>, StoreError> {
        let tx = self.db.begin_read().map_err(fail("read"))?;
        let table = tx.open_table(POLICIES).map_err(fail("read"))?;
        let value = table.get(kind.key()).map_err(fail("read"))?;
        Ok(value.map(|v| v.value().to_owned()))
    }

    /// Set a reference value list (JSON array text).
    pub fn put_reference(&self, name: &str, values_json: &str) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(fail("write"))?;
        tx.open_table(REFERENCE)
            .map_err(fail("write"))?
            .insert(name, values_json)
            .map_err(fail("write"))?;
        tx.commit().map_err(fail("commit"))
    }

    /// Every reference value list: name ⇒ JSON array text.
    pub fn references(&self) -> Result<Vec<(String, String)>, StoreError> {
        let tx = self.db.begin_read().map_err(fail("read"))?;
        let table = tx.open_table(REFERENCE).map_err(fail("read"))?;
        let mut out = Vec::new();
        for item in table.iter().map_err(fail("read"))? {
            let (key, value) = item.map_err(fail("read"))?;
            out.push((key.value().to_owned(), value.value().to_owned()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        {
            let store = Store::open(&path).unwrap();
            store.put_resource("a/b/c", b"secret").unwrap();
            store.put_resource("a/b/d", b"other").unwrap();
            store
                .put_policy(PolicyKind::Resource, "package policy")
                .unwrap();
            store.put_reference("mrenclave", r#"["00"]"#).unwrap();
            assert!(store.delete_resource("a/b/d").unwrap());
            assert!(!store.delete_resource("a/b/d").unwrap());
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.resource("a/b/c").unwrap().unwrap().as_slice(),
            b"secret"
        );
        assert!(store.resource("a/b/d").unwrap().is_none());
        assert_eq!(store.list_resources().unwrap(), vec!["a/b/c".to_owned()]);
        assert_eq!(
            store.policy(PolicyKind::Resource).unwrap().as_deref(),
            Some("package policy")
        );
        assert!(store.policy(PolicyKind::Attestation).unwrap().is_none());
        assert_eq!(store.references().unwrap().len(), 1);
    }
}
