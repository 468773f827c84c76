//! Every collection of a service, by name, loaded from (and created in) one data directory.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use dashmap::DashMap;
use parking_lot::{Mutex, RwLock};

use super::store::StoreOptions;
use super::{CollectionConfig, CollectionInfo, StoredCollection, VectorError};

/// A shared collection.
pub type SharedCollection = Arc<RwLock<StoredCollection>>;

/// Collections by name.
pub struct Catalog {
    dir: Option<PathBuf>,
    options: StoreOptions,
    collections: DashMap<String, SharedCollection>,
    /// Collections that failed to open, with why: reported, answered 503, files kept.
    broken: DashMap<String, String>,
    /// Serialises create and drop, which touch the directory.
    layout: Mutex<()>,
}

/// Checks a collection name: 1 to 64 of `A-Z a-z 0-9 _ -`.
pub fn check_name(name: &str) -> Result<(), VectorError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(VectorError::Invalid(format!(
            "collection name `{name}` must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -"
        )))
    }
}

impl Catalog {
    /// In memory only (`dir` None), or loading every collection under `dir`.
    pub fn open(dir: Option<PathBuf>, options: StoreOptions) -> Result<Self, VectorError> {
        let collections = DashMap::new();
        let broken = DashMap::new();
        if let Some(dir) = &dir {
            fs::create_dir_all(dir)
                .map_err(|e| VectorError::Storage(format!("create {}: {e}", dir.display())))?;
            for entry in fs::read_dir(dir)? {
                let path = entry?.path();
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if name.ends_with(".creating") || name.ends_with(".dropping") {
                    // Left by a crash mid-create or mid-drop: neither finished.
                    let _ = fs::remove_dir_all(&path);
                    continue;
                }
                if check_name(name).is_err() || !path.join("config.json").is_file() {
                    continue;
                }
                // One broken collection never stops the others: it is reported, kept
                // on disk as it is, and answers 503 with the reason.
                match StoredCollection::open(&path, options) {
                    Ok(c) => {
                        tracing::info!(
                            collection = name,
                            points = c.collection().info().points_count,
                            "collection loaded"
                        );
                        collections.insert(name.to_string(), Arc::new(RwLock::new(c)));
                    }
                    Err(e) => {
                        tracing::error!(collection = name, error = %e, "collection not loaded; its files are kept for repair");
                        broken.insert(name.to_string(), e.to_string());
                    }
                }
            }
        }
        Ok(Self {
            dir,
            options,
            collections,
            broken,
            layout: Mutex::new(()),
        })
    }

    /// Creates a collection.
    pub fn create(
        &self,
        name: &str,
        config: CollectionConfig,
    ) -> Result<CollectionInfo, VectorError> {
        check_name(name)?;
        let _layout = self.layout.lock();
        if self.collections.contains_key(name) || self.broken.contains_key(name) {
            return Err(VectorError::Exists(name.to_string()));
        }
        let c = match &self.dir {
            Some(dir) => StoredCollection::create(&dir.join(name), config, self.options)?,
            None => StoredCollection::in_memory(config)?,
        };
        let info = c.collection().info();
        self.collections
            .insert(name.to_string(), Arc::new(RwLock::new(c)));
        Ok(info)
    }

    /// Deletes a collection and its files.
    pub fn drop_collection(&self, name: &str) -> Result<(), VectorError> {
        let _layout = self.layout.lock();
        // Dropping a broken collection is how an operator chooses to discard it.
        if self.collections.remove(name).is_none() && self.broken.remove(name).is_none() {
            return Err(not_found(name));
        }
        if let Some(dir) = &self.dir {
            let path = dir.join(name);
            let doomed = dir.join(format!("{name}.dropping"));
            fs::rename(&path, &doomed)?;
            fs::remove_dir_all(&doomed)?;
        }
        Ok(())
    }

    /// A collection by name; a broken one answers why it is not served.
    pub fn get(&self, name: &str) -> Result<SharedCollection, VectorError> {
        if let Some(c) = self.collections.get(name) {
            return Ok(c.clone());
        }
        match self.broken.get(name) {
            Some(why) => Err(VectorError::Corrupt(format!(
                "collection `{name}`: {}",
                *why
            ))),
            None => Err(not_found(name)),
        }
    }

    /// Every collection's name, sorted (broken ones included: they exist).
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .collections
            .iter()
            .map(|e| e.key().clone())
            .chain(self.broken.iter().map(|e| e.key().clone()))
            .collect();
        names.sort();
        names
    }

    /// Collections that failed to open, with why.
    pub fn broken(&self) -> Vec<(String, String)> {
        let mut out: Vec<_> = self
            .broken
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        out.sort();
        out
    }
}

fn not_found(name: &str) -> VectorError {
    VectorError::NotFound(format!("no collection `{name}`"))
}
