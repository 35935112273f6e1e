//! Interruption without leftovers.
//!
//! Every temporary file that will become an output (see [`crate::io::write`]) is registered
//! here while it lives. On SIGINT or SIGTERM, [`install`]'s handler thread removes every
//! registered file and ends the process with 128 + the signal number (130, 143), holding
//! the registry's lock until the end: a rename onto a target also takes that lock, so an
//! output is either completely in place before the signal or not there at all.
//! Decoded audio needs nothing here: spools are anonymous files the OS frees on exit.

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use tempfile::NamedTempFile;

static LIVE: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn live() -> MutexGuard<'static, BTreeSet<PathBuf>> {
    // A panic elsewhere while holding the lock leaves a set that is still valid.
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A temporary file beside its target, removed by [`abort`], by dropping it, or renamed
/// onto the target by [`LiveTemp::persist`].
#[derive(Debug)]
pub struct LiveTemp {
    temp: Option<NamedTempFile>,
}

impl LiveTemp {
    /// Creates a temporary file in `dir` as `builder` says, registered before any signal
    /// can see it unregistered.
    pub fn create(builder: &tempfile::Builder<'_, '_>, dir: &Path) -> io::Result<LiveTemp> {
        let mut live = live();
        let temp = builder.tempfile_in(dir)?;
        live.insert(temp.path().to_owned());
        Ok(LiveTemp { temp: Some(temp) })
    }

    /// The open file.
    pub fn as_file(&self) -> &File {
        self.temp
            .as_ref()
            .expect("present until persisted")
            .as_file()
    }

    /// The temporary file's path.
    pub fn path(&self) -> &Path {
        self.temp.as_ref().expect("present until persisted").path()
    }

    /// Renames the file onto `target` (replacing it). On failure the temporary is removed.
    pub fn persist(mut self, target: &Path) -> io::Result<()> {
        let temp = self.temp.take().expect("persisted once");
        let mut live = live();
        live.remove(temp.path());
        temp.persist(target).map(drop).map_err(|e| e.error)
    }
}

impl Drop for LiveTemp {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            let mut live = live();
            live.remove(temp.path());
            drop(temp); // deletes the file
        }
    }
}

/// How many registered temporary files exist now (for tests and diagnostics).
pub fn live_count() -> usize {
    live().len()
}

/// Removes every registered temporary file and ends the process with `code`, without
/// running other threads' cleanup. No output can be renamed into place after this starts.
pub fn abort(code: i32) -> ! {
    let live = live();
    for p in live.iter() {
        let _ = std::fs::remove_file(p);
    }
    std::process::exit(code)
}

/// Starts a thread that answers SIGINT and SIGTERM with [`abort`]: exit status 130 or 143,
/// no temporary file left, no output half-written. Call once, early, from a binary.
pub fn install() -> io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                eprintln!("mixwright: interrupted; unfinished outputs removed");
                abort(128 + sig);
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_while_alive_removed_on_drop_and_unregistered_on_persist() {
        let dir = tempfile::tempdir().unwrap();
        let b = tempfile::Builder::new();
        let t = LiveTemp::create(&b, dir.path()).unwrap();
        let p = t.path().to_owned();
        assert!(live().contains(&p));
        drop(t);
        assert!(!p.exists());
        assert!(!live().contains(&p));

        let t = LiveTemp::create(&b, dir.path()).unwrap();
        let p = t.path().to_owned();
        let target = dir.path().join("out");
        t.persist(&target).unwrap();
        assert!(target.exists() && !p.exists());
        assert!(!live().contains(&p));
    }
}
