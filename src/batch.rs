//! Many songs in one run: `mixwright batch <folder-of-song-folders> -o <out-folder>`.
//!
//! Every subfolder of the root is a song (its stems inside, as `mix` takes a folder). Each is
//! mixed to `<out>/<song>.<ext>` with its session `<out>/<song>.session.json`; the session is
//! written last, after the mix is renamed into place, so it marks a finished song and a later
//! run skips that song (resume) unless `force` is set. A song that fails is reported and the
//! others go on.
//!
//! **Concurrency rule.** Songs run side by side on their own threads while each song's stems
//! are decoded and analysed on the shared rayon pool, so all cores stay busy even with one
//! song. The number of songs in flight is
//! `max(1, min(cores, songs, ⌊MemAvailable / 2 / SONG_MEMORY⌋))`: half of the memory the OS
//! says is available, divided by [`SONG_MEMORY`], the measured peak of one song (decoded
//! audio lives in on-disk spools, so this does not grow with the song's length), and never
//! more songs than cores. `jobs` overrides it.
//!
//! **Determinism.** Each song's bytes depend only on its stems and the options, never on the
//! schedule or the thread count.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::engineer::master::Target;
use crate::error::Error;
use crate::io::write::OutputFormat;
use crate::pipeline::{MixOptions, Progress, Quiet};
use crate::session::Session;

/// Memory one song may take at its peak, in bytes: the budget [`concurrent_songs`] divides
/// the available memory by. Measured peak RSS of a 32-track mix is well under it (see the
/// README's reliability section); the rest is margin for the OS page cache of the spools.
pub const SONG_MEMORY: u64 = 1 << 30;

/// Options of a batch: the mix options every song shares, and how to schedule.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Loudness and true-peak target of every mix.
    pub target: Target,
    /// Session sample rate; `None` takes each song's most common input rate.
    pub rate: Option<u32>,
    /// Format of the mix files.
    pub format: OutputFormat,
    /// Mix songs again even when their outputs are complete.
    pub force: bool,
    /// Songs in flight at once; `None` applies the rule in the module documentation.
    pub jobs: Option<usize>,
}

/// What happened to one song.
#[derive(Debug)]
pub enum SongStatus {
    /// Mixed now.
    Mixed {
        /// Integrated loudness of the delivered mix, LUFS.
        integrated_lufs: Option<f64>,
        /// True peak of the delivered mix, dBTP.
        true_peak_dbtp: Option<f64>,
        /// The mix's warnings.
        warnings: Vec<String>,
    },
    /// Its mix and session were already complete; left alone.
    Skipped,
    /// It could not be mixed; nothing of it was written.
    Failed(Error),
}

/// One song of a batch.
#[derive(Debug)]
pub struct SongReport {
    /// The song's name: its folder's name.
    pub name: String,
    /// The folder of stems.
    pub folder: PathBuf,
    /// The mix file.
    pub output: PathBuf,
    /// The session file (written last).
    pub session: PathBuf,
    /// The outcome.
    pub status: SongStatus,
}

/// What a batch did, song by song in name order.
#[derive(Debug)]
pub struct BatchReport {
    /// Every song, sorted by name.
    pub songs: Vec<SongReport>,
    /// Songs that were in flight at once.
    pub jobs: usize,
    /// Things in the root that are not songs (files, the output folder), skipped.
    pub notes: Vec<String>,
}

impl BatchReport {
    /// Songs that failed.
    pub fn failed(&self) -> impl Iterator<Item = &SongReport> {
        self.songs
            .iter()
            .filter(|s| matches!(s.status, SongStatus::Failed(_)))
    }
}

/// Songs in flight for `cores` cores and `available` bytes of free memory (`None`: unknown,
/// cores alone decide), `songs` songs to do. See the module documentation.
pub fn concurrent_songs(cores: usize, available: Option<u64>, songs: usize) -> usize {
    let by_memory = available.map_or(usize::MAX, |a| {
        usize::try_from(a / 2 / SONG_MEMORY).unwrap_or(usize::MAX)
    });
    cores.min(songs).min(by_memory).max(1)
}

/// `MemAvailable` from `/proc/meminfo`, in bytes; `None` where there is no such file.
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The song folders under `root` (sorted; hidden entries and `out` itself skipped), and notes
/// on what else was there.
fn song_folders(root: &Path, out: &Path) -> Result<(Vec<PathBuf>, Vec<String>), Error> {
    let out = std::fs::canonicalize(out).map_err(|e| Error::io(out, e))?;
    let mut songs = Vec::new();
    let mut notes = Vec::new();
    for entry in std::fs::read_dir(root).map_err(|e| Error::io(root, e))? {
        let path = entry.map_err(|e| Error::io(root, e))?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if !path.is_dir() {
            notes.push(format!("{}: skipped (not a song folder)", path.display()));
        } else if std::fs::canonicalize(&path).is_ok_and(|p| p == out) {
            notes.push(format!("{}: skipped (the output folder)", path.display()));
        } else {
            songs.push(path);
        }
    }
    songs.sort();
    Ok((songs, notes))
}

/// A song is done when its session (written last) loads and its mix exists.
fn is_complete(output: &Path, session: &Path) -> bool {
    output.is_file() && Session::load(session).is_ok()
}

/// Mixes every song folder under `root` into `out` (created if needed). Fails as a whole only
/// when the root or the output folder is unusable or holds no song; a song that fails is
/// reported in [`BatchReport::songs`] and the others go on.
pub fn batch(
    root: &Path,
    out: &Path,
    opts: &BatchOptions,
    progress: &dyn Progress,
) -> Result<BatchReport, Error> {
    if !root.is_dir() {
        return Err(Error::io(
            root,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder"),
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let (folders, notes) = song_folders(root, out)?;
    if folders.is_empty() {
        return Err(Error::NoSongs {
            path: root.to_path_buf(),
        });
    }
    let ext = if matches!(opts.format, OutputFormat::Flac16 | OutputFormat::Flac24) {
        "flac"
    } else {
        "wav"
    };
    let jobs = opts.jobs.unwrap_or_else(|| {
        concurrent_songs(
            rayon::current_num_threads(),
            available_memory(),
            folders.len(),
        )
    });
    let jobs = jobs.clamp(1, folders.len());

    progress.stage("songs", folders.len() as u64);
    let results: Mutex<Vec<Option<SongReport>>> =
        Mutex::new((0..folders.len()).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(folder) = folders.get(i) else { break };
                    let report = song(folder, out, ext, opts);
                    progress.advance(1);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(report);
                }
            });
        }
    });
    let songs = results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every song visited"))
        .collect();
    Ok(BatchReport { songs, jobs, notes })
}

/// Mixes one song, or skips it when complete.
fn song(folder: &Path, out: &Path, ext: &str, opts: &BatchOptions) -> SongReport {
    let name = folder
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let output = out.join(format!("{name}.{ext}"));
    let session = out.join(format!("{name}.session.json"));
    let status = if !opts.force && is_complete(&output, &session) {
        SongStatus::Skipped
    } else {
        let mix_opts = MixOptions {
            target: opts.target,
            rate: opts.rate,
            format: opts.format,
            session_out: Some(session.clone()),
            stems_out: None,
        };
        // A stale session must not mark a song done while its new mix is under way.
        let stale = match std::fs::remove_file(&session) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Some(Error::io(&session, e)),
            _ => None,
        };
        let result = match stale {
            Some(e) => Err(e),
            // A bug in one song must not take the others down with it.
            None => catch_unwind(AssertUnwindSafe(|| {
                crate::pipeline::mix(&[folder.to_path_buf()], &output, &mix_opts, &Quiet)
            }))
            .unwrap_or_else(|_| Err(Error::Internal(format!("{name}: the mix panicked")))),
        };
        match result {
            Ok(r) => SongStatus::Mixed {
                integrated_lufs: r.render.master.integrated_lufs,
                true_peak_dbtp: r.render.master.true_peak_dbtp,
                warnings: r.warnings,
            },
            Err(e) => SongStatus::Failed(e),
        }
    };
    SongReport {
        name,
        folder: folder.to_path_buf(),
        output,
        session,
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_is_bounded_by_cores_memory_and_songs() {
        const GIB: u64 = 1 << 30;
        assert_eq!(concurrent_songs(8, Some(64 * GIB), 100), 8);
        assert_eq!(concurrent_songs(8, Some(6 * GIB), 100), 3);
        assert_eq!(concurrent_songs(8, Some(GIB), 100), 1, "at least one song");
        assert_eq!(concurrent_songs(8, None, 3), 3);
        assert_eq!(concurrent_songs(1, Some(64 * GIB), 100), 1);
    }
}
