//! Measuring: what the engineer hears. Nothing here changes audio.

pub mod loudness;

use serde::{Deserialize, Serialize};

use crate::io::spool::Spool;
use loudness::{Loudness, LoudnessMeter};

/// Frames per analysis block.
const BLOCK: usize = 8192;

/// Everything measured about one track.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrackAnalysis {
    /// Loudness figures and curves.
    pub loudness: Loudness,
}

/// Measures one decoded track, reading it in blocks.
pub fn analyze_track(spool: &Spool, rate: u32) -> std::io::Result<TrackAnalysis> {
    let mut meter = LoudnessMeter::new(spool.channels(), rate, true);
    let mut blocks = spool.blocks(BLOCK);
    while let Some(block) = blocks.next_block()? {
        meter.push(block);
    }
    Ok(TrackAnalysis {
        loudness: meter.finish(),
    })
}
