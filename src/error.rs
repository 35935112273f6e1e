//! The library's typed errors. Each names the file and the problem; the binary maps them
//! to exit status 2 (bad input or usage) or 1 (internal error).

use std::io;
use std::path::{Path, PathBuf};

use crate::io::decode::DecodeError;
use crate::io::resample::ResampleError;
use crate::io::write::WriteError;

/// Everything that can go wrong between stems and a mix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No input paths were given.
    #[error("no input given: name a folder of stems or stem files")]
    NoInputs,
    /// A path could not be read (missing, permission denied, ...).
    #[error("{}: {}", path.display(), describe_io(source))]
    Io {
        /// The path involved.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A folder held no audio files.
    #[error("{}: no audio files found (looked for {})", path.display(), crate::io::discover::AUDIO_EXTENSIONS.join(", "))]
    NoAudio {
        /// The folder.
        path: PathBuf,
    },
    /// A stem could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A stem could not be resampled.
    #[error(transparent)]
    Resample(#[from] ResampleError),
    /// An output could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A session file is unreadable or inconsistent.
    #[error("session {}: {detail}", path.display())]
    Session {
        /// The session file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// A batch root held no song folders.
    #[error("{}: no song folders found (a batch takes a folder of song folders, each holding stems)", path.display())]
    NoSongs {
        /// The root folder.
        path: PathBuf,
    },
    /// A bug on our side (a panic caught at a boundary), not bad input.
    #[error("internal error: {0}")]
    Internal(String),
    /// A `mixwright.toml` is unreadable or holds a value mixwright does not know.
    #[error("{}: {}{detail}", path.display(), key.as_ref().map_or(String::new(), |k| format!("{k}: ")))]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// The offending key (`roles."Audio 03"`), when one is to blame.
        key: Option<String>,
        /// What is wrong.
        detail: String,
    },
    /// A command-line value is out of range or malformed.
    #[error("{0}")]
    Usage(String),
    /// Temporary storage for decoded audio failed (disk full, no temp folder).
    #[error("temporary storage for decoded audio: {}", describe_io(.0))]
    Spool(io::Error),
}

/// What the OS said, in words a user acts on.
pub(crate) fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::StorageFull => "disk full (no space left on the device)".into(),
        io::ErrorKind::NotFound => "no such file or folder".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Process exit status for this error: 2 for bad input or usage, 1 for internal failures.
    pub fn exit_code(&self) -> i32 {
        match self {
            // A full disk is the machine's state, not our bug: the user can act on it.
            Error::Spool(e) if e.kind() == io::ErrorKind::StorageFull => 2,
            Error::Spool(_) | Error::Resample(_) | Error::Internal(_) => 1,
            _ => 2,
        }
    }
}
