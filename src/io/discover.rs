//! Finding the stems: a folder of audio files, or files named one by one.

use std::path::{Path, PathBuf};

use crate::error::Error;

/// File extensions taken as audio when scanning a folder (lower case).
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "wav", "wave", "bwf", "flac", "aif", "aiff", "aifc", "mp3", "ogg", "oga",
];

/// What discovery found: the stems in mixing order, and what it passed over and why.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Stem files: a folder's audio files sorted by name, then files given directly, in order.
    pub stems: Vec<PathBuf>,
    /// Files in scanned folders that were skipped, with the reason (hidden, not audio).
    pub skipped: Vec<(PathBuf, &'static str)>,
}

fn is_audio(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Expands `inputs` (folders and files) into stem files.
///
/// A folder contributes every audio file directly inside it, sorted by name; hidden files
/// and files that are not audio by extension are skipped with a note. A file named
/// directly is always taken (its content decides whether it decodes).
pub fn discover(inputs: &[PathBuf]) -> Result<Discovery, Error> {
    if inputs.is_empty() {
        return Err(Error::NoInputs);
    }
    let mut found = Discovery::default();
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(|e| Error::io(input, e))?;
        if !meta.is_dir() {
            found.stems.push(input.clone());
            continue;
        }
        let entries = std::fs::read_dir(input).map_err(|e| Error::io(input, e))?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(input, e))?;
            let path = entry.path();
            if !path.is_file() {
                continue;
            }
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if hidden {
                found.skipped.push((path, "hidden file"));
            } else if !is_audio(&path) {
                found.skipped.push((path, "not an audio file"));
            } else {
                files.push(path);
            }
        }
        if files.is_empty() {
            return Err(Error::NoAudio {
                path: input.clone(),
            });
        }
        files.sort();
        found.stems.extend(files);
    }
    found.skipped.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_sorted_hidden_and_non_audio_skipped() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.wav", "a.FLAC", ".hidden.wav", "notes.txt", "c.mp3"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.wav")).unwrap();
        let d = discover(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = d
            .stems
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["a.FLAC", "b.wav", "c.mp3"]);
        assert_eq!(d.skipped.len(), 2);
    }

    #[test]
    fn empty_folder_and_missing_path_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            discover(&[dir.path().to_path_buf()]),
            Err(Error::NoAudio { .. })
        ));
        let missing = dir.path().join("nope");
        let err = discover(std::slice::from_ref(&missing)).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
