//! The session: plain data describing everything on the console. The engineer writes it,
//! a person may edit it, the console renders it. No logic here beyond validation.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engineer::roles::Role;
use crate::error::Error;

/// Version of the session file format; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 1;

/// A whole mix: what goes in, how each channel strip is set, and the master.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// File format version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Rate everything is rendered at, in Hz; stems at other rates are resampled to it.
    pub sample_rate: u32,
    /// One channel strip per stem, in input order.
    pub tracks: Vec<Track>,
    /// The master bus.
    pub master: Master,
    /// Tempo of the song in beats per minute, as estimated from the stems (for
    /// tempo-synced delays); `null` when the song has no clear pulse.
    #[serde(default)]
    pub tempo_bpm: Option<f64>,
}

/// One stem on its channel strip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Track {
    /// Unique name (the stem's file name without extension); names `--stems-out` files.
    pub name: String,
    /// The stem file. Relative paths are taken relative to the session file's folder.
    pub source: PathBuf,
    /// The part this track plays in the arrangement.
    pub role: Role,
    /// Channel strip settings.
    pub strip: Strip,
}

/// A channel strip, in signal order: polarity, trim, fader, pan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Strip {
    /// Invert the polarity (multiply by −1).
    pub polarity_inverted: bool,
    /// Input trim in dB, before the fader.
    pub trim_db: f64,
    /// Fader in dB.
    pub fader_db: f64,
    /// Position, −1 (hard left) … +1 (hard right). Mono sources use a constant-power law;
    /// stereo sources a balance control.
    pub pan: f64,
    /// Stereo width of a stereo source: 0 = mono, 1 = as recorded, up to 2.
    pub width: f64,
    /// Silence the track.
    pub mute: bool,
}

impl Default for Strip {
    fn default() -> Self {
        Strip {
            polarity_inverted: false,
            trim_db: 0.0,
            fader_db: 0.0,
            pan: 0.0,
            width: 1.0,
            mute: false,
        }
    }
}

/// The master bus: where the mix must land.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Master {
    /// Integrated loudness of the delivered mix, LUFS.
    pub target_lufs: f64,
    /// True-peak ceiling of the delivered mix, dBTP.
    pub ceiling_dbtp: f64,
}

impl Session {
    /// Reads and validates a session file.
    pub fn load(path: &Path) -> Result<Session, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parses and validates the text of a session file; `path` names it in errors and is
    /// where relative stem paths are taken from.
    pub fn parse(text: &str, path: &Path) -> Result<Session, Error> {
        let bad = |detail: String| Error::Session {
            path: path.to_path_buf(),
            detail,
        };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        match value.get("format_version").and_then(|v| v.as_u64()) {
            Some(v) if v == FORMAT_VERSION as u64 => {}
            Some(v) => {
                return Err(bad(format!(
                    "format version {v} is not supported (this mixwright reads version {FORMAT_VERSION})"
                )));
            }
            None => return Err(bad("no format_version field".into())),
        }
        let mut session: Session =
            serde_json::from_value(value).map_err(|e| bad(format!("{e}")))?;
        session.validate().map_err(bad)?;
        let base = path.parent().unwrap_or(Path::new("."));
        for t in &mut session.tracks {
            if t.source.is_relative() {
                t.source = base.join(&t.source);
            }
        }
        Ok(session)
    }

    /// Writes the session as pretty JSON, atomically, never over one of `protected`.
    pub fn save(&self, path: &Path, protected: &[PathBuf]) -> Result<(), Error> {
        let text = serde_json::to_string_pretty(self).expect("session serialises");
        crate::io::write::write_bytes_atomic(path, text.as_bytes(), protected)?;
        Ok(())
    }

    /// Checks ranges and consistency; the message names the offending field.
    pub fn validate(&self) -> Result<(), String> {
        if !(8_000..=192_000).contains(&self.sample_rate) {
            return Err(format!(
                "sample_rate {} is outside 8000..=192000",
                self.sample_rate
            ));
        }
        if self.tracks.is_empty() {
            return Err("no tracks".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for t in &self.tracks {
            if !names.insert(t.name.as_str()) {
                return Err(format!("track name {:?} is used twice", t.name));
            }
            let s = &t.strip;
            let checks = [
                ("trim_db", s.trim_db, -96.0, 48.0),
                ("fader_db", s.fader_db, -144.0, 48.0),
                ("pan", s.pan, -1.0, 1.0),
                ("width", s.width, 0.0, 2.0),
            ];
            for (field, v, lo, hi) in checks {
                if !(lo..=hi).contains(&v) {
                    return Err(format!(
                        "track {:?}: {field} = {v} is outside {lo}..={hi}",
                        t.name
                    ));
                }
            }
        }
        if let Some(bpm) = self.tempo_bpm
            && !(20.0..=400.0).contains(&bpm)
        {
            return Err(format!("tempo_bpm {bpm} is outside 20..=400"));
        }
        let m = &self.master;
        if !(-70.0..=0.0).contains(&m.target_lufs) {
            return Err(format!(
                "master target_lufs {} is outside -70..=0",
                m.target_lufs
            ));
        }
        if !(-20.0..=0.0).contains(&m.ceiling_dbtp) {
            return Err(format!(
                "master ceiling_dbtp {} is outside -20..=0",
                m.ceiling_dbtp
            ));
        }
        Ok(())
    }
}
