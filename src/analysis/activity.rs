//! Where a track plays, and where it is silent or holds only noise or bleed.
//!
//! The rule is the one loudness uses ([`ActiveHops`]): a 100 ms hop of the momentary
//! (400 ms) loudness curve is active when it is above the absolute gate (−70 LUFS) and
//! within 20 dB of the track's loudest 5 %. Hiss, hum or bleed 20 dB under the track's own
//! playing level therefore count as not playing. The hops are then made into segments:
//! * hop `i` stands for the middle 100 ms of its 400 ms window, `[(i+1)·0.1 − 0.25,
//!   (i+1)·0.1 − 0.15]` s, so a segment is centred on the sound and starts at most ~0.25 s
//!   before it (the momentary window sees a note coming 400 ms ahead);
//! * gaps shorter than [`MERGE_GAP_S`] are bridged (a rest between two phrases, the space
//!   between drum hits: the track is still playing there);
//! * islands shorter than [`MIN_SEGMENT_S`] are dropped (a lone hop over the threshold).

use serde::{Deserialize, Serialize};

use std::io;

use super::loudness::{ActiveHops, CURVE_STEP_S};
use crate::io::spool::CurveValues;

/// Gaps shorter than this (seconds) between active stretches are bridged.
pub const MERGE_GAP_S: f64 = 0.5;
/// Active stretches shorter than this (seconds), after merging, are dropped.
pub const MIN_SEGMENT_S: f64 = 0.25;

/// A stretch of time, seconds from the start of the track.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Segment {
    /// Start, s.
    pub start_s: f64,
    /// End, s (> start).
    pub end_s: f64,
}

impl Segment {
    /// Length, s.
    pub fn duration_s(&self) -> f64 {
        self.end_s - self.start_s
    }
}

/// Where a track plays.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Activity {
    /// The stretches where it plays, in time order, not overlapping.
    pub playing: Vec<Segment>,
    /// Their total length over the track's length (0…1); 0 for an empty track.
    pub fraction: f64,
}

/// Merges sorted segments closer than `gap` seconds and drops those shorter than `min`.
pub fn tidy(segments: impl IntoIterator<Item = Segment>, gap: f64, min: f64) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    for s in segments {
        merge(&mut out, s, gap);
    }
    out.retain(|s| s.duration_s() >= min);
    out
}

/// Appends `s` (starting at or after the last one) to `out`, into the last segment when it
/// starts less than `gap` seconds after that one's end.
fn merge(out: &mut Vec<Segment>, s: Segment, gap: f64) {
    match out.last_mut() {
        Some(last) if s.start_s - last.end_s < gap => last.end_s = last.end_s.max(s.end_s),
        _ => out.push(s),
    }
}

/// The activity of a track from its momentary loudness curve (one value every
/// [`CURVE_STEP_S`], read in passes) and its length in seconds.
pub fn activity(momentary: &(impl CurveValues + ?Sized), duration_s: f64) -> io::Result<Activity> {
    let active = ActiveHops::of(momentary)?;
    // Join adjacent hops first (they touch exactly), then bridge and drop.
    let mut playing = Vec::new();
    let mut i = 0usize;
    momentary.each(&mut |v| {
        if active.contains(v) {
            let end = (i + 1) as f64 * CURVE_STEP_S;
            let span = Segment {
                start_s: (end - 2.5 * CURVE_STEP_S).max(0.0),
                end_s: (end - 1.5 * CURVE_STEP_S).clamp(0.0, duration_s.max(0.0)),
            };
            merge(&mut playing, span, MERGE_GAP_S);
        }
        i += 1;
    })?;
    playing.retain(|s| s.duration_s() >= MIN_SEGMENT_S);
    let total: f64 = playing.iter().map(Segment::duration_s).sum();
    Ok(Activity {
        fraction: if duration_s > 0.0 {
            (total / duration_s).clamp(0.0, 1.0)
        } else {
            0.0
        },
        playing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(parts: &[(f64, f32)]) -> Vec<Option<f32>> {
        parts
            .iter()
            .flat_map(|&(secs, lufs)| {
                let v = (lufs > -200.0).then_some(lufs);
                std::iter::repeat_n(v, (secs / CURVE_STEP_S).round() as usize)
            })
            .collect()
    }

    #[test]
    fn segments_follow_the_playing_parts() {
        // 2 s silence, 5 s playing, 3 s hiss 30 dB down, 4 s playing, 1 s silence.
        let m = curve(&[
            (2.0, -300.0),
            (5.0, -20.0),
            (3.0, -50.0),
            (4.0, -22.0),
            (1.0, -300.0),
        ]);
        let a = activity(&m[..], 15.0).unwrap();
        assert_eq!(a.playing.len(), 2, "{a:?}");
        let s = a.playing[0];
        assert!(
            (s.start_s - 1.85).abs() < 0.11 && (s.end_s - 6.85).abs() < 0.11,
            "{s:?}"
        );
        let s = a.playing[1];
        assert!(
            (s.start_s - 9.85).abs() < 0.11 && (s.end_s - 13.85).abs() < 0.11,
            "{s:?}"
        );
        assert!((a.fraction - 9.0 / 15.0).abs() < 0.02, "{}", a.fraction);
    }

    #[test]
    fn short_gaps_bridge_and_lone_hops_drop() {
        let mut m = curve(&[(3.0, -20.0), (0.3, -60.0), (3.0, -20.0), (5.0, -60.0)]);
        // One stray hop over the threshold in the hiss.
        m[100] = Some(-20.0);
        let a = activity(&m[..], 11.3).unwrap();
        assert_eq!(a.playing.len(), 1, "{a:?}");
        assert!((a.playing[0].duration_s() - 6.3).abs() < 0.15);
    }

    #[test]
    fn empty_and_silent_are_defined() {
        assert_eq!(activity(&[][..], 0.0).unwrap(), Activity::default());
        let a = activity(&curve(&[(3.0, -300.0)])[..], 3.0).unwrap();
        assert!(a.playing.is_empty());
        assert_eq!(a.fraction, 0.0);
    }
}
