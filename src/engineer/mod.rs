//! The decisions, one file per domain. The engineer reads the analysis and writes a
//! session; it renders audio only to try a decision.

pub mod level;
pub mod master;
pub mod roles;
pub mod stereo;

use std::path::PathBuf;

use crate::analysis::{TrackAnalysis, tempo};
use crate::session::{FORMAT_VERSION, Master, Session, Strip, Track};
use master::Target;
use roles::Role;

/// What the engineer knows about one track before deciding.
pub struct TrackInput<'a> {
    /// Unique track name.
    pub name: String,
    /// The stem file.
    pub source: PathBuf,
    /// Channels of the stem (1 or 2).
    pub channels: usize,
    /// Its measurements.
    pub analysis: &'a TrackAnalysis,
    /// The role the user set in `mixwright.toml`, if any.
    pub configured_role: Option<Role>,
}

/// A session and the notes the engineer wants the user to read.
pub struct Decisions {
    /// The mix, ready for the console.
    pub session: Session,
    /// Things worth telling the user (silent stems, unknown roles, limits hit).
    pub warnings: Vec<String>,
}

/// Takes every decision for a song.
pub fn decide(tracks: &[TrackInput<'_>], sample_rate: u32, target: Target) -> Decisions {
    let mut warnings = Vec::new();
    let roles: Vec<Role> = tracks
        .iter()
        .map(|t| {
            let a = roles::assign(&t.name, t.configured_role, t.analysis.role_guess);
            warnings.extend(a.note);
            a.role
        })
        .collect();
    let onsets: Vec<_> = tracks.iter().map(|t| &t.analysis.onset).collect();
    let tempo_bpm = tempo::song_envelope(&onsets)
        .and_then(|song| tempo::estimate(&song.flux, song.hop_s))
        .map(|t| t.bpm);
    let active: Vec<Option<f64>> = tracks
        .iter()
        .map(|t| t.analysis.loudness.active_lufs)
        .collect();
    let faders = level::set_faders(&roles, &active);
    let channels: Vec<usize> = tracks.iter().map(|t| t.channels).collect();
    let places = stereo::place(&roles, &channels);

    let tracks = tracks
        .iter()
        .zip(roles)
        .zip(faders)
        .zip(places)
        .map(|(((t, role), fader), place)| {
            if let Some(note) = &fader.note {
                warnings.push(format!("{}: {note}", t.name));
            }
            Track {
                name: t.name.clone(),
                source: t.source.clone(),
                role,
                strip: Strip {
                    fader_db: fader.db,
                    mute: fader.mute,
                    pan: place.pan,
                    width: place.width,
                    ..Strip::default()
                },
            }
        })
        .collect();
    Decisions {
        session: Session {
            format_version: FORMAT_VERSION,
            sample_rate,
            tracks,
            master: Master {
                target_lufs: target.lufs,
                ceiling_dbtp: target.ceiling_dbtp,
            },
            tempo_bpm,
        },
        warnings,
    }
}
