//! Measuring: what the engineer hears. Nothing here changes audio.

pub mod activity;
pub mod bleed;
pub mod loudness;
pub mod masking;
pub mod onset;
pub mod problems;
pub mod relation;
pub mod role;
mod role_model;
pub mod select;
pub mod sii;
pub mod spectrum;
pub mod tempo;

#[cfg(test)]
mod conformance;

use serde::{Deserialize, Serialize};

use crate::io::spool::Spool;
use activity::Activity;
use bleed::{Bleed, BleedMeter};
use loudness::{CURVE_STEP_S, Loudness, LoudnessMeter};
use onset::{Onset, OnsetMeter};
use problems::{Problems, ProblemsMeter};
use role::RoleGuess;
use spectrum::{Spectrum, SpectrumMeter};
use tempo::Tempo;

/// Frames per analysis block.
const BLOCK: usize = 8192;

/// Everything measured about one track.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrackAnalysis {
    /// Loudness figures and curves.
    pub loudness: Loudness,
    /// Band spectra, tonal balance, stereo image and short-time band frames.
    #[serde(default)]
    pub spectrum: Spectrum,
    /// Problems found (DC, rumble, hum, noise, clicks, clipping) for the repair stage.
    #[serde(default)]
    pub problems: Problems,
    /// Where the track plays.
    #[serde(default)]
    pub activity: Activity,
    /// Onset strength every ~10 ms and spectral flatness.
    #[serde(default)]
    pub onset: Onset,
    /// Tempo of the track alone; `None` when it has no pulse or is too short.
    #[serde(default)]
    pub tempo: Option<Tempo>,
    /// Role guessed from the audio alone; `None` for silence.
    #[serde(default)]
    pub role_guess: Option<RoleGuess>,
    /// Bleed between the track's own hits (acted on for close drum mics only); `None`
    /// when the track has too few strokes to tell.
    #[serde(default)]
    pub bleed: Option<Bleed>,
}

/// Measures one decoded track, reading it in blocks.
pub fn analyze_track(spool: &Spool, rate: u32) -> std::io::Result<TrackAnalysis> {
    let mut meter = LoudnessMeter::new(spool.channels(), rate, true);
    let mut spectrum = SpectrumMeter::new(spool.channels(), rate);
    let mut problems = ProblemsMeter::new(spool.channels(), rate);
    let mut onset = OnsetMeter::new(spool.channels(), rate);
    let mut bleed = BleedMeter::new(spool.channels(), rate);
    let mut blocks = spool.blocks(BLOCK);
    while let Some(block) = blocks.next_block()? {
        meter.push(block);
        spectrum.push(block);
        problems.push(block);
        onset.push(block);
        bleed.push(block);
    }
    let loudness = meter.finish()?;
    let duration_s = spool.frames() as f64 / rate.max(1) as f64;
    debug_assert!(loudness.momentary_lufs.len() as f64 * CURVE_STEP_S <= duration_s + 1e-9);
    let onset = onset.finish()?;
    let mut a = TrackAnalysis {
        // The momentary curve read from disk in passes while its segments are found.
        activity: activity::activity(&loudness.momentary_lufs, duration_s)?,
        loudness,
        spectrum: spectrum.finish()?,
        problems: problems.finish()?,
        tempo: tempo::estimate(&onset.flux, onset.hop_s)?,
        onset,
        role_guess: None,
        bleed: bleed.finish(),
    };
    a.role_guess = role::guess(&a)?;
    Ok(a)
}
