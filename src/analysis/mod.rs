//! Measuring: what the engineer hears. Nothing here changes audio.

pub mod loudness;
pub mod masking;
pub mod spectrum;

#[cfg(test)]
mod conformance;

use serde::{Deserialize, Serialize};

use crate::io::spool::Spool;
use loudness::{Loudness, LoudnessMeter};
use spectrum::{Spectrum, SpectrumMeter};

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
}

/// Measures one decoded track, reading it in blocks.
pub fn analyze_track(spool: &Spool, rate: u32) -> std::io::Result<TrackAnalysis> {
    let mut meter = LoudnessMeter::new(spool.channels(), rate, true);
    let mut spectrum = SpectrumMeter::new(spool.channels(), rate);
    let mut blocks = spool.blocks(BLOCK);
    while let Some(block) = blocks.next_block()? {
        meter.push(block);
        spectrum.push(block);
    }
    Ok(TrackAnalysis {
        loudness: meter.finish(),
        spectrum: spectrum.finish(),
    })
}
