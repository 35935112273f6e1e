//! The decisions, one file per domain. The engineer reads the analysis and writes a
//! session; it renders audio only to try a decision.

pub mod level;
pub mod master;
pub mod repair;
pub mod roles;
pub mod stereo;

use std::path::PathBuf;

use crate::analysis::relation::Relation;
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

/// Takes every decision for a song; `relations` are the pairs of `tracks` (by index) that
/// captured the same source, at `sample_rate`.
pub fn decide(
    tracks: &[TrackInput<'_>],
    relations: &[Relation],
    sample_rate: u32,
    target: Target,
) -> Decisions {
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
    let alignments = repair::align(relations, &roles);

    let tracks = tracks
        .iter()
        .zip(roles)
        .zip(faders)
        .zip(places)
        .zip(alignments)
        .map(|((((t, role), fader), place), aligned)| {
            if let Some(note) = &fader.note {
                warnings.push(format!("{}: {note}", t.name));
            }
            let (mut repair, notes) = repair::decide(&t.analysis.problems, role, sample_rate);
            warnings.extend(notes.into_iter().map(|n| format!("{}: {n}", t.name)));
            repair.delay_samples = aligned.delay_samples;
            let mut moves = Vec::new();
            if aligned.invert {
                moves.push("polarity inverted".to_string());
            }
            if aligned.delay_samples != 0.0 {
                let ms = -aligned.delay_samples * 1e3 / f64::from(sample_rate);
                moves.push(format!("moved {ms:.2} ms earlier"));
            }
            if !moves.is_empty() {
                warnings.push(format!(
                    "{}: lined up with the tracks on the same source: {}",
                    t.name,
                    moves.join(", ")
                ));
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
                    polarity_inverted: aligned.invert,
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
            tempo_bpm,
        },
        warnings,
    }
}
