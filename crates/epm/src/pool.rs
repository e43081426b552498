//! The pool of ready enclaves: keyed by tenant, MRENCLAVE and MRSIGNER, bounded in count and
//! memory, least recently used image evicted first.
//!
//! Invariants this type keeps (the safety rules of epm):
//! - [`Pool::take`] removes what it returns: an enclave is handed out once, so none is ever
//!   handed out after it ran a workload;
//! - an entry is returned only for the exact key it was inserted under: same tenant, same
//!   MRENCLAVE, same MRSIGNER;
//! - the number of ready enclaves stays within `max_enclaves` and their memory within
//!   `max_memory`; an insert that does not fit evicts the oldest entry of the least recently
//!   used image, and an enclave larger than the whole budget is not pooled.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use crate::enclave::{Image, Ready};
use crate::protocol::{PoolStatus, Status};

/// The pool's bounds and defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most ready enclaves, over all tenants and images.
    pub max_enclaves: usize,
    /// Most memory held by ready enclaves, bytes.
    pub max_memory: u64,
    /// Most cached measurements.
    pub max_measurements: usize,
    /// Enclaves kept ready per tenant and image unless the container asks otherwise.
    pub default_prewarm: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_enclaves: 32,
            max_memory: 1 << 30,
            max_measurements: 65_536,
            default_prewarm: 1,
        }
    }
}

/// Which enclaves may be handed to whom: one tenant, one image identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    /// The tenant namespace.
    pub tenant: String,
    /// MRENCLAVE.
    pub mr_enclave: [u8; 32],
    /// MRSIGNER.
    pub mr_signer: [u8; 32],
}

impl Key {
    /// The key of `image` for `tenant`.
    pub fn new(tenant: &str, image: &Image) -> Self {
        Self {
            tenant: tenant.to_owned(),
            mr_enclave: image.identity.mr_enclave,
            mr_signer: image.identity.mr_signer,
        }
    }
}

/// How to build more enclaves of a key: the verified image and where its files are.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// The image.
    pub image: Arc<Image>,
    /// The rootfs last seen for it.
    pub rootfs: PathBuf,
    /// How many to keep ready.
    pub prewarm: u32,
}

#[derive(Debug)]
struct Slot {
    ready: VecDeque<Ready>,
    recipe: Recipe,
    last_used: u64,
}

/// Counters reported by `status`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    /// Acquires served from a ready enclave.
    pub hits: u64,
    /// Acquires that had to build one.
    pub misses: u64,
    /// Enclaves evicted.
    pub evictions: u64,
    /// Acquires refused because the image's files changed.
    pub stale: u64,
}

/// The pool (see the module doc). Not synchronised: the server holds it in a mutex and
/// builds enclaves outside the lock.
#[derive(Debug)]
pub struct Pool {
    limits: Limits,
    slots: HashMap<Key, Slot>,
    tick: u64,
    count: usize,
    memory: u64,
    /// Counters for `status`.
    pub counters: Counters,
}

/// Most images remembered (with or without ready enclaves) before the least recently used
/// is forgotten.
const MAX_SLOTS: usize = 1024;

impl Pool {
    /// An empty pool.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            slots: HashMap::new(),
            tick: 0,
            count: 0,
            memory: 0,
            counters: Counters::default(),
        }
    }

    /// The bounds.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Records (or refreshes) how to build enclaves of `key` and marks it used now.
    pub fn remember(&mut self, key: &Key, recipe: Recipe) {
        self.tick += 1;
        let tick = self.tick;
        match self.slots.get_mut(key) {
            Some(slot) => {
                slot.recipe = recipe;
                slot.last_used = tick;
            }
            None => {
                if self.slots.len() >= MAX_SLOTS {
                    self.forget_least_recent();
                }
                self.slots.insert(
                    key.clone(),
                    Slot {
                        ready: VecDeque::new(),
                        recipe,
                        last_used: tick,
                    },
                );
            }
        }
    }

    /// Removes and returns a ready enclave of exactly `key`, if any; marks the key used.
    pub fn take(&mut self, key: &Key) -> Option<Ready> {
        self.tick += 1;
        let slot = self.slots.get_mut(key)?;
        slot.last_used = self.tick;
        let ready = slot.ready.pop_front()?;
        self.count -= 1;
        self.memory -= ready.bytes;
        Some(ready)
    }

    /// Adds a ready enclave under `key` (which must have been [`remember`](Self::remember)ed),
    /// evicting as needed. Returns false when it was not pooled (no slot, over its prewarm
    /// count, or larger than the memory budget); it is then dropped.
    pub fn insert(&mut self, key: &Key, ready: Ready) -> bool {
        let Some(slot) = self.slots.get(key) else {
            return false;
        };
        let prewarm = usize::try_from(slot.recipe.prewarm).unwrap_or(usize::MAX);
        if slot.ready.len() >= prewarm
            || ready.bytes > self.limits.max_memory
            || self.limits.max_enclaves == 0
        {
            return false;
        }
        while self.count + 1 > self.limits.max_enclaves
            || self.memory.saturating_add(ready.bytes) > self.limits.max_memory
        {
            if !self.evict_one() {
                return false;
            }
        }
        let Some(slot) = self.slots.get_mut(key) else {
            return false;
        };
        self.count += 1;
        self.memory += ready.bytes;
        slot.ready.push_back(ready);
        true
    }

    /// How many more enclaves `key` wants, and the recipe to build them.
    pub fn wanted(&self, key: &Key) -> Option<(usize, Recipe)> {
        let slot = self.slots.get(key)?;
        let prewarm = usize::try_from(slot.recipe.prewarm)
            .unwrap_or(usize::MAX)
            .min(self.limits.max_enclaves);
        let missing = prewarm.saturating_sub(slot.ready.len());
        (missing > 0).then(|| (missing, slot.recipe.clone()))
    }

    /// Ready enclaves of `key`.
    pub fn ready(&self, key: &Key) -> usize {
        self.slots.get(key).map_or(0, |s| s.ready.len())
    }

    /// Drops `key`'s ready enclaves and recipe (its files changed, or its rootfs is gone).
    pub fn forget(&mut self, key: &Key) {
        if let Some(slot) = self.slots.remove(key) {
            for ready in slot.ready {
                self.count -= 1;
                self.memory -= ready.bytes;
            }
        }
    }

    /// The state for `status`.
    pub fn status(&self, measurements: usize) -> Status {
        let mut pools: Vec<PoolStatus> = self
            .slots
            .iter()
            .map(|(key, slot)| PoolStatus {
                tenant: key.tenant.clone(),
                mr_enclave: hex::encode(key.mr_enclave),
                mr_signer: hex::encode(key.mr_signer),
                ready: u32::try_from(slot.ready.len()).unwrap_or(u32::MAX),
                prewarm: slot.recipe.prewarm,
            })
            .collect();
        pools.sort_by(|a, b| (&a.tenant, &a.mr_enclave).cmp(&(&b.tenant, &b.mr_enclave)));
        Status {
            tee: "sim".to_owned(),
            enclaves: u32::try_from(self.count).unwrap_or(u32::MAX),
            memory: self.memory,
            max_enclaves: u32::try_from(self.limits.max_enclaves).unwrap_or(u32::MAX),
            max_memory: self.limits.max_memory,
            measurements: u32::try_from(measurements).unwrap_or(u32::MAX),
            hits: self.counters.hits,
            misses: self.counters.misses,
            evictions: self.counters.evictions,
            stale: self.counters.stale,
            pools,
        }
    }

    /// Evicts the oldest ready enclave of the least recently used key that has one.
    fn evict_one(&mut self) -> bool {
        let Some(key) = self
            .slots
            .iter()
            .filter(|(_, s)| !s.ready.is_empty())
            .min_by_key(|(_, s)| s.last_used)
            .map(|(k, _)| k.clone())
        else {
            return false;
        };
        let Some(ready) = self.slots.get_mut(&key).and_then(|s| s.ready.pop_front()) else {
            return false;
        };
        self.count -= 1;
        self.memory -= ready.bytes;
        self.counters.evictions += 1;
        tracing::debug!(tee = "sim", tenant = %key.tenant, mrenclave = %hex::encode(key.mr_enclave), "evicted a ready enclave");
        true
    }

    fn forget_least_recent(&mut self) {
        if let Some(key) = self
            .slots
            .iter()
            .min_by_key(|(_, s)| s.last_used)
            .map(|(k, _)| k.clone())
        {
            self.forget(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn ready(bytes: usize) -> Ready {
        let (fd, ()) =
            erpal_sim::handover::sealed_memfd(c"t", |f| f.write_all(&vec![0u8; bytes])).unwrap();
        Ready {
            entrypoint: fd,
            bytes: bytes as u64,
        }
    }

    fn image() -> Arc<Image> {
        // The pool never looks inside the image; any valid one will do.
        let manifest = erpal_sim::Manifest::new(erpal_sim::manifest::ManifestFields {
            entrypoint: "/bin/x".into(),
            argv: erpal_sim::ArgvPolicy::Any,
            env: erpal_sim::EnvPolicy::Any,
            trusted_files: vec![erpal_sim::manifest::TrustedFile {
                path: "/bin/x".into(),
                sha256: erpal_sim::manifest::Sha256Digest([0; 32]),
                size: 1,
            }],
            isv_prod_id: 0,
            isv_svn: 0,
            debug: false,
            memory_size: erpal_sim::manifest::DEFAULT_MEMORY_SIZE,
        })
        .unwrap();
        let identity = erpal_sim::measure::identity(&manifest, [0; 32], [0; 32]);
        Arc::new(Image {
            manifest,
            identity,
            digest: erpal_sim::measure::ImageDigest::of(b"", b""),
        })
    }

    fn key(tenant: &str, mr: u8) -> Key {
        Key {
            tenant: tenant.into(),
            mr_enclave: [mr; 32],
            mr_signer: [9; 32],
        }
    }

    fn pool(max_enclaves: usize, max_memory: u64) -> Pool {
        Pool::new(Limits {
            max_enclaves,
            max_memory,
            ..Limits::default()
        })
    }

    fn remember(pool: &mut Pool, key: &Key, prewarm: u32) {
        pool.remember(
            key,
            Recipe {
                image: image(),
                rootfs: "/r".into(),
                prewarm,
            },
        );
    }

    #[test]
    fn take_hands_out_once_and_only_for_the_exact_key() {
        let mut p = pool(8, 1 << 20);
        let a = key("label:a", 1);
        remember(&mut p, &a, 2);
        assert!(p.insert(&a, ready(10)));
        assert!(p.take(&key("label:b", 1)).is_none(), "other tenant");
        assert!(p.take(&key("label:a", 2)).is_none(), "other MRENCLAVE");
        let other_signer = Key {
            mr_signer: [8; 32],
            ..a.clone()
        };
        assert!(p.take(&other_signer).is_none(), "other MRSIGNER");
        assert!(p.take(&a).is_some());
        assert!(p.take(&a).is_none(), "handed out once");
        assert_eq!(p.status(0).enclaves, 0);
        assert_eq!(p.status(0).memory, 0);
    }

    #[test]
    fn count_bound_evicts_the_least_recently_used_image() {
        let mut p = pool(2, 1 << 20);
        let (a, b, c) = (key("t", 1), key("t", 2), key("t", 3));
        for k in [&a, &b, &c] {
            remember(&mut p, k, 1);
        }
        assert!(p.insert(&a, ready(1)));
        assert!(p.insert(&b, ready(1)));
        // `a` was remembered first and not used since: it goes.
        assert!(p.insert(&c, ready(1)));
        assert_eq!((p.ready(&a), p.ready(&b), p.ready(&c)), (0, 1, 1));
        // Using `b` makes `c` the least recently used.
        assert!(p.take(&b).is_some());
        remember(&mut p, &b, 1);
        assert!(p.insert(&b, ready(1)));
        remember(&mut p, &a, 1);
        assert!(p.insert(&a, ready(1)));
        assert_eq!((p.ready(&a), p.ready(&b), p.ready(&c)), (1, 1, 0));
        assert_eq!(p.counters.evictions, 2);
    }

    #[test]
    fn memory_bound_and_oversized_enclaves() {
        let mut p = pool(10, 100);
        let (a, b) = (key("t", 1), key("t", 2));
        remember(&mut p, &a, 3);
        remember(&mut p, &b, 3);
        assert!(p.insert(&a, ready(40)));
        assert!(p.insert(&a, ready(40)));
        assert!(!p.insert(&b, ready(101)), "larger than the budget");
        assert!(p.insert(&b, ready(40)), "evicts one of a's");
        assert_eq!(p.ready(&a), 1);
        assert_eq!(p.status(0).memory, 80);
    }

    #[test]
    fn prewarm_caps_and_forget() {
        let mut p = pool(10, 1 << 20);
        let a = key("t", 1);
        remember(&mut p, &a, 2);
        assert_eq!(p.wanted(&a).map(|w| w.0), Some(2));
        assert!(p.insert(&a, ready(1)));
        assert!(p.insert(&a, ready(1)));
        assert!(!p.insert(&a, ready(1)), "over prewarm");
        assert!(p.wanted(&a).is_none());
        p.forget(&a);
        assert_eq!(p.status(0).enclaves, 0);
        assert!(!p.insert(&a, ready(1)), "forgotten keys take nothing");
    }
}
