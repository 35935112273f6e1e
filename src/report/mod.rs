//! What was heard and done, for people and programs: the `--json` summary.

use serde::Serialize;

use crate::console::master::MasterReport;
use crate::engineer::roles::Role;
use crate::pipeline::MixResult;

/// Machine-readable summary of a mix (`mixwright mix --json`).
#[derive(Debug, Serialize)]
pub struct MixSummary<'a> {
    /// The mix file.
    pub output: String,
    /// Session sample rate, Hz.
    pub sample_rate: u32,
    /// Target loudness, LUFS, and ceiling, dBTP.
    pub target: Target,
    /// What the delivered mix measures.
    pub master: &'a MasterReport,
    /// Per track: what was measured and decided.
    pub tracks: Vec<TrackSummary<'a>>,
    /// Notes for the user.
    pub warnings: &'a [String],
}

/// Target figures.
#[derive(Debug, Serialize)]
pub struct Target {
    /// LUFS.
    pub lufs: f64,
    /// dBTP.
    pub ceiling_dbtp: f64,
}

/// One track in the summary.
#[derive(Debug, Serialize)]
pub struct TrackSummary<'a> {
    /// Track name.
    pub name: &'a str,
    /// Stem file.
    pub source: String,
    /// Role decided.
    pub role: Role,
    /// Stem's own sample rate, Hz.
    pub input_rate: u32,
    /// Stem's channels.
    pub channels: usize,
    /// Loudness where the stem plays, LUFS, before the fader.
    pub active_lufs: Option<f64>,
    /// Share of the song where it plays.
    pub active_fraction: f64,
    /// Fader, dB.
    pub fader_db: f64,
    /// Pan, −1…+1.
    pub pan: f64,
    /// Width of a stereo stem.
    pub width: f64,
    /// Muted.
    pub mute: bool,
}

impl<'a> MixSummary<'a> {
    /// Builds the summary of a finished mix.
    pub fn new(r: &'a MixResult) -> Self {
        let s = &r.session;
        MixSummary {
            output: r.render.output.display().to_string(),
            sample_rate: s.sample_rate,
            target: Target {
                lufs: s.master.target_lufs,
                ceiling_dbtp: s.master.ceiling_dbtp,
            },
            master: &r.render.master,
            tracks: s
                .tracks
                .iter()
                .zip(&r.analyses)
                .zip(&r.inputs)
                .map(|((t, a), info)| TrackSummary {
                    name: &t.name,
                    source: t.source.display().to_string(),
                    role: t.role,
                    input_rate: info.sample_rate,
                    channels: info.channels,
                    active_lufs: a.loudness.active_lufs,
                    active_fraction: a.loudness.active_fraction,
                    fader_db: t.strip.fader_db,
                    pan: t.strip.pan,
                    width: t.strip.width,
                    mute: t.strip.mute,
                })
                .collect(),
            warnings: &r.warnings,
        }
    }
}
