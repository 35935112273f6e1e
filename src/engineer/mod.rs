//! The decisions, one file per domain. The engineer reads the analysis and writes a
//! session; it renders audio only to try a decision.

pub mod level;
pub mod master;
pub mod repair;
pub mod roles;
pub mod stereo;

use std::path::PathBuf;

use crate::analysis::TrackAnalysis;
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
            roles::guess_from_name(&t.name).unwrap_or_else(|| {
                warnings.push(format!(
                    "{}: role not recognisable from the name; mixed as 'other'",
                    t.name
                ));
                Role::Other
            })
        })
        .collect();
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
            let (repair, notes) = repair::decide(&t.analysis.problems, role);
            warnings.extend(notes.into_iter().map(|n| format!("{}: {n}", t.name)));
            Track {
                name: t.name.clone(),
                source: t.source.clone(),
                role,
                strip: Strip {
                    fader_db: fader.db,
                    mute: fader.mute,
                    pan: place.pan,
                    width: place.width,
                    repair,
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
        },
        warnings,
    }
}
