//! The server's use of its state file: read at start, written after
//! changes to persistent services, and written ahead of the revisions it
//! gives out.
//!
//! The state file's `revision` is, as the server writes it, a promise: a
//! revision it will not pass without writing the file again, its own
//! revision plus [`REVISION_BLOCK`] at the time of the save. A restarted
//! server starts at the revision the file holds, so it never gives out a
//! revision its previous run could have given out, and a watcher's old
//! revision is never taken for a new one (it is too old instead, and the
//! watcher starts afresh). The server saves again once its revision gets
//! within half a block of the promise, whatever changed.

use std::path::PathBuf;

use crate::error::Result;
use crate::persist::{Saved, StateFile};
use crate::revision::Revision;
use crate::store::{Store, StoreConfig};

/// How far ahead of its revision each save promises: a save per half a
/// million changes at least.
pub(super) const REVISION_BLOCK: u64 = 1 << 20;

/// The state file, and what the server owes it.
#[derive(Debug)]
pub(super) struct Persistence {
    file: StateFile,
    /// The revision the file promises the server will not pass.
    ceiling: Revision,
    /// A change to what the file keeps is not written yet.
    dirty: bool,
    /// A save is scheduled.
    scheduled: bool,
}

impl Persistence {
    /// Reads the state file at `path` (none is an empty registry), builds
    /// the store on it, and writes the file back with a new promise before
    /// anything else happens.
    ///
    /// # Errors
    ///
    /// The file cannot be read, is corrupt, holds services the store
    /// refuses (more than it may hold, say), or cannot be written.
    pub(super) fn open(path: PathBuf, config: StoreConfig) -> Result<(Store, Persistence)> {
        let file = StateFile::new(path);
        let store = match file.load()? {
            Some(saved) => {
                let mut store = Store::with_config(config.start(saved.revision));
                saved.restore(&mut store)?;
                tracing::info!(
                    path = %file.path().display(),
                    services = saved.services.len(),
                    revision = %store.revision(),
                    "registry state read"
                );
                store
            }
            None => Store::with_config(config),
        };
        let mut persistence = Persistence {
            file,
            ceiling: Revision::ZERO,
            dirty: false,
            scheduled: false,
        };
        persistence.save(&store)?;
        Ok((store, persistence))
    }

    /// Writes the file now, with a new promise.
    ///
    /// # Errors
    ///
    /// The file cannot be written; it is then as it was, and the change
    /// stays to be written.
    pub(super) fn save(&mut self, store: &Store) -> Result<()> {
        let ceiling = Revision::new(store.revision().get().saturating_add(REVISION_BLOCK));
        let mut saved = Saved::of(store);
        saved.revision = ceiling;
        self.file.save_saved(&saved)?;
        self.ceiling = ceiling;
        self.dirty = false;
        tracing::debug!(
            path = %self.file.path().display(),
            services = saved.services.len(),
            "registry state written"
        );
        Ok(())
    }

    /// After a change: `touched` says whether it changed what the file
    /// keeps. Writes the file at once when the revision nears the promise.
    pub(super) fn changed(&mut self, store: &Store, touched: bool) {
        self.dirty |= touched;
        if store.revision().get().saturating_add(REVISION_BLOCK / 2) > self.ceiling.get()
            && let Err(error) = self.save(store)
        {
            tracing::error!(
                path = %self.file.path().display(),
                "registry state not written: {error}; a restart could give out revisions again"
            );
        }
    }

    /// Whether a save should be scheduled now (once per batch of changes).
    pub(super) fn wants_schedule(&mut self) -> bool {
        let wants = self.dirty && !self.scheduled;
        self.scheduled |= wants;
        wants
    }

    /// The scheduled save: writes the file if a change waits.
    ///
    /// # Errors
    ///
    /// As [`Persistence::save`]; the save stays scheduled.
    pub(super) fn save_scheduled(&mut self, store: &Store) -> Result<()> {
        if self.dirty {
            self.save(store)?;
        }
        self.scheduled = false;
        Ok(())
    }

    /// The file's path, for the log.
    pub(super) fn path(&self) -> &std::path::Path {
        self.file.path()
    }
}
