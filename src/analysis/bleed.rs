//! Bleed on a close drum mic: other drums heard between the track's own hits, steady and
//! well above the noise floor, the thing a gate or expander removes.
//!
//! Method, in one streaming pass (memory: a few filters and two fixed histograms, whatever
//! the length of the song):
//! * the track's peak level (largest |sample| over the channels) every [`FRAME_S`], and
//!   the energy of its mono fold-down in four broad bands ([`BANDS`]);
//! * an **event** is a frame at least [`RISE_DB`] over the lowest of the [`RECENT_FRAMES`]
//!   frames before it, in peak level and in energy above 300 Hz (something struck; a
//!   drum's ringing beats only in its low partials), not within the frames after
//!   another event's start that its level is taken over: its level is the highest peak of its first
//!   [`EVENT_FRAMES`] frames, its band shape (each band's share of the energy, dB) is
//!   taken over the same frames, and its decay is the time until the level falls
//!   [`FALL_DB`] under that peak (unmeasured when the next event comes first);
//! * each event is counted into a histogram of its level ([`BIN_DB`] bins), which also
//!   sums the shapes and decays per bin; every frame's level goes into a second histogram.
//!
//! At the end the events are split in two by level where Fisher's criterion
//! (difference of the class means squared over the sum of their variances) is highest: it
//! does not depend on how many events each class holds, so a tom struck in a few fills
//! under a whole song of bleed splits as well as a kick on every beat. The split is then
//! moved up while the loud class splits again into two clusters a gate tells apart (the
//! hits are the top cluster, when a first split fell between the bleed and a drum's own
//! ringing far below), and the quiet class is narrowed the same way to the cluster just
//! under the hits (the loudest bleed). When that cluster has the hits' band shape (the
//! drum's own ghost notes), the candidate is the next cluster down instead (as long as it lies within
//! [`MAX_SEPARATION_DB`] of the hits), and the clusters passed over are kept over the
//! threshold with the hits: on the benchmark's funk snare, ghost strokes fill the levels
//! just under the hits where a kick's or a hi-hat's bleed would otherwise be found. The
//! loud class are the track's own hits, the quiet one the candidate bleed. Bleed is
//! **found** when
//! * the two are [`MIN_SEPARATION_DB`] to [`MAX_SEPARATION_DB`] apart (medians), and a threshold fits
//!   between them (the quietest strokes kept, 5th percentile of the cluster over the bleed,
//!   at least [`MIN_GAP_DB`] over the loudest bleed, 95th percentile);
//! * the quiet events are another instrument, not softer strokes of this one: their band
//!   shape differs from the hits' by at least [`MIN_SHAPE_DB`] in some band (a snare in a
//!   kick mic is bright, a kick in a snare mic dark; ghost notes of a snare have the
//!   snare's shape: 2.2 dB on the benchmark's funk snare, whose planted bleed measured
//!   5.8 dB and more);
//! * they are a steady presence: at least [`MIN_BLEED_EVENTS`], and at least
//!   [`MIN_BLEED_RATE`] per second of the track;
//! * they are above [`BLEED_MIN_DBFS`] (under it, even a gate's worth of fader gain leaves
//!   them inaudible);
//! * the track spends at least [`MIN_CLOSED_SHARE`] of its frames under the gate's closing
//!   level: a drum rests between hits, a bass or a pad that happens to have soft and loud
//!   notes does not.
//!
//! The figures also suggest the gate: the threshold half-way (in dB) between the loudest
//! bleed and the quietest strokes kept, closing as far down as the loudest bleed (at most 3 dB of
//! hysteresis), and the hits' decay for its hold and release.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::dsp::Processor;
use crate::dsp::biquad::{Biquad, BiquadKind};

/// Time between level frames, s: a 30 Hz kick tail's peak varies by under 2 dB from one
/// 10 ms frame to the next, so its own cycles do not read as strokes.
pub const FRAME_S: f64 = 0.01;
/// Rise over the recent lowest frame that makes an event, dB.
pub const RISE_DB: f64 = 6.0;
/// Frames before a frame whose lowest level an event must rise over.
pub const RECENT_FRAMES: usize = 4;
/// Frames an event's level and shape are taken over.
pub const EVENT_FRAMES: usize = 3;
/// Fall from an event's peak that ends its decay, dB.
pub const FALL_DB: f64 = 12.0;
/// A decay longer than this many frames is not measured (a held note, not a hit).
const MAX_DECAY_FRAMES: u64 = 100;
/// Width of a level bin, dB.
pub const BIN_DB: f64 = 0.25;
/// Lowest level binned, dBFS (lower levels fall into the first bin).
const LOW_DB: f64 = -120.0;
/// Level bins from [`LOW_DB`] to 0 dBFS.
const BINS: usize = 480;
/// Events under this level are not counted (noise, dither), dBFS.
const MIN_EVENT_DBFS: f64 = -90.0;
/// Hits and bleed (or two clusters of strokes) at least this far apart (medians), dB.
pub const MIN_SEPARATION_DB: f64 = 10.0;
/// Bleed more than this under the hits (medians) is left, dB: on the bus it sits that far
/// under this drum and further under the bled drum's own close mic, masked, so a gate
/// would take away nothing audible. Bleed on a close mic is 10–25 dB under its own drum;
/// what the clean benchmark kicks hold 38–40 dB down is their own ringing.
pub const MAX_SEPARATION_DB: f64 = 35.0;
/// Quietest hits (5th percentile) at least this far over the loudest bleed (95th), dB.
pub const MIN_GAP_DB: f64 = 3.0;
/// The bleed's band shape differs from the hits' by at least this in some band, dB.
pub const MIN_SHAPE_DB: f64 = 4.5;
/// At least this many bleed events.
pub const MIN_BLEED_EVENTS: u64 = 16;
/// At least this many bleed events per second of the track.
pub const MIN_BLEED_RATE: f64 = 0.25;
/// Bleed under this is left (its median peak), dBFS.
pub const BLEED_MIN_DBFS: f64 = -80.0;
/// Share of the frames under the gate's closing level for a track that rests between hits.
pub const MIN_CLOSED_SHARE: f64 = 0.3;
/// Most hysteresis suggested, dB.
const MAX_HYSTERESIS_DB: f64 = 3.0;
/// Each class of the split holds at least this many events.
const MIN_CLASS: u64 = 2;
/// The bands of the shape: what tells a kick (low), toms and snare body (low mids), snare
/// crack (mids) and cymbals and snare wires (highs) apart.
pub const BANDS: [(BandKind, f64); 4] = [
    (BandKind::LowPass, 150.0),
    (BandKind::BandPass, 500.0),
    (BandKind::BandPass, 2000.0),
    (BandKind::HighPass, 6000.0),
];

/// The bands of [`BANDS`] in which a stroke must rise too: a stick or beater puts energy
/// across the spectrum, while a drum's own ringing decays (and beats) in its low partials;
/// without this, bumps of 6–9 dB in the tails of the benchmark's clean kicks read as
/// strokes.
const STROKE_BANDS: std::ops::Range<usize> = 1..4;

/// How a band of [`BANDS`] is cut (second-order filters).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BandKind {
    /// Below the frequency.
    LowPass,
    /// An octave and a half around the frequency (Q 1).
    BandPass,
    /// Above the frequency.
    HighPass,
}

/// What the bleed analysis measured on one track.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bleed {
    /// Bleed found (see the module doc for the conditions); the figures below are given
    /// either way.
    pub found: bool,
    /// Median peak level of the track's own hits (the loud events), dBFS.
    pub hit_dbfs: f64,
    /// Median peak level of the quiet events between them (the bleed, if found), dBFS.
    pub bleed_dbfs: f64,
    /// Suggested gate threshold (peak), dBFS: half-way between the loudest bleed (95th
    /// percentile) and the quietest strokes kept (5th percentile of the cluster over the
    /// bleed: the hits, or the ghost notes under them).
    pub threshold_dbfs: f64,
    /// Suggested hysteresis, dB: the gate closes at the loudest bleed, at most 3 dB under
    /// the threshold (enough that a decaying hit's ripple does not chatter).
    pub hysteresis_db: f64,
    /// Quietest strokes kept (5th percentile) over the loudest bleed (95th percentile), dB.
    pub gap_db: f64,
    /// Number of hits.
    pub hits: u64,
    /// Number of quiet events.
    pub bleed_events: u64,
    /// Number of events between them and the hits, left over the threshold: the drum's
    /// own softer strokes (ghost notes; see the module notes).
    #[serde(default)]
    pub soft_strokes: u64,
    /// Largest difference between the quiet events' and the hits' band shapes, dB.
    pub shape_difference_db: f64,
    /// Mean time the hits take to fall 12 dB from their peak, ms (0 when none measured).
    pub decay_ms: f64,
    /// Share of the frames under the suggested closing level (threshold − hysteresis).
    pub closed_share: f64,
}

/// Per level bin: how many events, and the sums of their shapes and decays.
#[derive(Debug, Clone, Copy, Default)]
struct EventBin {
    count: u64,
    shape: [f64; BANDS.len()],
    decay_s: f64,
    decays: u64,
}

/// An event being collected or decaying.
#[derive(Debug, Clone, Copy)]
struct Event {
    start: u64,
    frames: usize,
    peak_db: f64,
    energy: [f64; BANDS.len()],
}

/// Streaming bleed analyser: push interleaved blocks, then [`BleedMeter::finish`].
pub struct BleedMeter {
    channels: usize,
    frame_len: usize,
    bands: Vec<Biquad>,
    mono: Vec<f32>,
    band_buf: Vec<f32>,
    band_power: Vec<f64>,
    /// Samples into the current frame, its peak and band energies.
    pos: usize,
    peak: f32,
    energy: [f64; BANDS.len()],
    frames: u64,
    /// Level and energy above [`STROKE_BANDS`] of the last frames, dB.
    recent: VecDeque<(f64, f64)>,
    collecting: Option<Event>,
    decaying: Option<Event>,
    events: Vec<EventBin>,
    levels: Vec<u64>,
}

fn bin(db: f64) -> usize {
    (((db - LOW_DB) / BIN_DB).floor().max(0.0) as usize).min(BINS - 1)
}

fn centre(bin: usize) -> f64 {
    LOW_DB + (bin as f64 + 0.5) * BIN_DB
}

impl BleedMeter {
    /// An analyser for `channels` (≥ 1) interleaved channels at `rate` Hz (> 0).
    pub fn new(channels: usize, rate: u32) -> BleedMeter {
        let rate_f = f64::from(rate.max(1));
        let bands = BANDS
            .iter()
            .map(|&(kind, hz)| {
                let kind = match kind {
                    BandKind::LowPass => BiquadKind::butterworth_low_pass(),
                    BandKind::BandPass => BiquadKind::BandPass { q: 1.0 },
                    BandKind::HighPass => BiquadKind::butterworth_high_pass(),
                };
                // Clamped under Nyquist so a low rate still builds.
                Biquad::new(1, rate_f, kind, hz.min(0.45 * rate_f))
                    .expect("a valid design at a positive rate")
            })
            .collect();
        BleedMeter {
            channels: channels.max(1),
            frame_len: ((FRAME_S * rate_f).round() as usize).max(1),
            bands,
            mono: Vec::new(),
            band_buf: Vec::new(),
            band_power: Vec::new(),
            pos: 0,
            peak: 0.0,
            energy: [0.0; BANDS.len()],
            frames: 0,
            recent: VecDeque::with_capacity(RECENT_FRAMES + 1),
            collecting: None,
            decaying: None,
            events: vec![EventBin::default(); BINS],
            levels: vec![0; BINS],
        }
    }

    /// Adds interleaved frames (a whole number of frames).
    pub fn push(&mut self, block: &[f32]) {
        let ch = self.channels;
        let clean = |v: f32| if v.is_finite() { v } else { 0.0 };
        self.mono.clear();
        self.mono.extend(
            block
                .chunks_exact(ch)
                .map(|f| f.iter().map(|&v| clean(v)).sum::<f32>() / ch as f32),
        );
        // Band powers per sample, interleaved like the bands.
        let nb = BANDS.len();
        self.band_power.clear();
        self.band_power.resize(self.mono.len() * nb, 0.0);
        for (b, filter) in self.bands.iter_mut().enumerate() {
            self.band_buf.clear();
            self.band_buf.extend_from_slice(&self.mono);
            filter.process(&mut self.band_buf);
            for (i, &v) in self.band_buf.iter().enumerate() {
                self.band_power[i * nb + b] = f64::from(v) * f64::from(v);
            }
        }
        for (i, frame) in block.chunks_exact(ch).enumerate() {
            let p = frame.iter().fold(0.0f32, |m, &v| m.max(clean(v).abs()));
            self.peak = self.peak.max(p);
            for (e, pw) in self.energy.iter_mut().zip(&self.band_power[i * nb..]) {
                *e += pw;
            }
            self.pos += 1;
            if self.pos == self.frame_len {
                self.end_frame();
            }
        }
    }

    fn end_frame(&mut self) {
        let level = if self.peak > 0.0 {
            20.0 * f64::from(self.peak).log10()
        } else {
            LOW_DB
        };
        let energy = self.energy;
        let upper = 10.0 * (energy[STROKE_BANDS].iter().sum::<f64>() + 1e-30).log10();
        self.levels[bin(level)] += 1;
        if let Some(d) = self.decaying {
            if level < d.peak_db - FALL_DB {
                self.record(d, Some(self.frames - d.start));
                self.decaying = None;
            } else if self.frames - d.start > MAX_DECAY_FRAMES {
                self.record(d, None);
                self.decaying = None;
            }
        }
        if let Some(mut ev) = self.collecting {
            ev.frames += 1;
            ev.peak_db = ev.peak_db.max(level);
            for (a, b) in ev.energy.iter_mut().zip(energy) {
                *a += b;
            }
            if ev.frames == EVENT_FRAMES {
                self.collecting = None;
                self.decaying = Some(ev);
                // The next stroke must rise over this one's body, not over the frames
                // before it (nor over its own first frame, when it began at a frame's end).
                self.recent.clear();
            } else {
                self.collecting = Some(ev);
            }
        } else if self.recent.len() == RECENT_FRAMES
            && level
                >= self
                    .recent
                    .iter()
                    .map(|r| r.0)
                    .fold(f64::INFINITY, f64::min)
                    + RISE_DB
            && upper
                >= self
                    .recent
                    .iter()
                    .map(|r| r.1)
                    .fold(f64::INFINITY, f64::min)
                    + RISE_DB
        {
            // A new stroke cuts the last one's decay short.
            if let Some(d) = self.decaying.take() {
                self.record(d, None);
            }

            self.collecting = Some(Event {
                start: self.frames,
                frames: 1,
                peak_db: level,
                energy,
            });
        }
        self.recent.push_back((level, upper));
        if self.recent.len() > RECENT_FRAMES {
            self.recent.pop_front();
        }
        self.frames += 1;
        self.pos = 0;
        self.peak = 0.0;
        self.energy = [0.0; BANDS.len()];
    }

    fn record(&mut self, ev: Event, decay_frames: Option<u64>) {
        if ev.peak_db < MIN_EVENT_DBFS {
            return;
        }
        let b = &mut self.events[bin(ev.peak_db)];
        b.count += 1;
        let total: f64 = ev.energy.iter().sum::<f64>() + 1e-30;
        for (s, e) in b.shape.iter_mut().zip(ev.energy) {
            // Floored at −60 dB: an empty band says "nothing here", not −300 dB.
            *s += (10.0 * (e / total).log10()).max(-60.0);
        }
        if let Some(f) = decay_frames {
            b.decay_s += f as f64 * FRAME_S;
            b.decays += 1;
        }
    }

    /// The measurement; `None` when the track has too few strokes to tell hits from
    /// anything else (silence, a held note).
    pub fn finish(mut self) -> Option<Bleed> {
        if let Some(ev) = self.collecting.take() {
            self.record(ev, None);
        }
        if let Some(ev) = self.decaying.take() {
            self.record(ev, None);
        }
        let ev = &self.events;
        // Prefix sums of count, level and level² by bin.
        let mut n = vec![0u64; BINS + 1];
        let mut s1 = vec![0.0f64; BINS + 1];
        let mut s2 = vec![0.0f64; BINS + 1];
        for (k, b) in ev.iter().enumerate() {
            let x = centre(k);
            n[k + 1] = n[k] + b.count;
            s1[k + 1] = s1[k] + b.count as f64 * x;
            s2[k + 1] = s2[k] + b.count as f64 * x * x;
        }
        let stats = |lo: usize, hi: usize| {
            let c = (n[hi] - n[lo]) as f64;
            let m = (s1[hi] - s1[lo]) / c;
            (m, ((s2[hi] - s2[lo]) / c - m * m).max(0.0))
        };
        // The best split of bins `lo..hi` by Fisher's criterion; a bin's width squared keeps
        // two single-level classes finite.
        let fisher = |lo: usize, hi: usize| {
            let mut best: Option<(usize, f64)> = None;
            for k in lo + 1..hi {
                if n[k] - n[lo] < MIN_CLASS || n[hi] - n[k] < MIN_CLASS {
                    continue;
                }
                let (ml, vl) = stats(lo, k);
                let (mu, vu) = stats(k, hi);
                let j = (mu - ml).powi(2) / (vl + vu + BIN_DB * BIN_DB);
                if best.is_none_or(|(_, b)| j > b) {
                    best = Some((k, j));
                }
            }
            best.map(|(k, _)| k)
        };
        // The level of rank `q` (0…1) within bins `lo..hi`.
        let quantile = |lo: usize, hi: usize, q: f64| {
            let count = n[hi] - n[lo];
            let rank = ((count - 1) as f64 * q).round() as u64;
            (lo..hi)
                .find(|&k| n[k + 1] - n[lo] > rank)
                .map_or(centre(hi - 1), centre)
        };
        // Two clusters a gate tells apart: far enough, and a threshold fits between them.
        let apart = |lo: usize, k: usize, hi: usize| {
            quantile(k, hi, 0.5) - quantile(lo, k, 0.5) >= MIN_SEPARATION_DB
                && quantile(k, hi, 0.05) - quantile(lo, k, 0.95) >= MIN_GAP_DB
        };
        let mut split = fisher(0, BINS)?;
        let mut floor = 0;
        // The hits are the top cluster: a first split may fall under the bleed, between it
        // and a drum's own ringing far below.
        while let Some(k) = fisher(split, BINS).filter(|&k| apart(split, k, BINS)) {
            floor = split;
            split = k;
        }
        // The top cluster of bins `lo..hi`.
        let narrow = |mut lo: usize, hi: usize| {
            while let Some(k) = fisher(lo, hi).filter(|&k| apart(lo, k, hi)) {
                lo = k;
            }
            lo
        };
        let mean_shape = |lo: usize, hi: usize| {
            let mut sh = [0.0; BANDS.len()];
            for b in &ev[lo..hi] {
                for (a, s) in sh.iter_mut().zip(b.shape) {
                    *a += s;
                }
            }
            sh.map(|v| v / (n[hi] - n[lo]) as f64)
        };
        let hit_shape = mean_shape(split, BINS);
        let shape_difference = |lo: usize, hi: usize| {
            hit_shape
                .iter()
                .zip(mean_shape(lo, hi))
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max)
        };
        let duration_s = self.frames as f64 * FRAME_S;
        let steady = |lo: usize, hi: usize| {
            let count = n[hi] - n[lo];
            count >= MIN_BLEED_EVENTS && count as f64 >= MIN_BLEED_RATE * duration_s
        };
        let hit_dbfs = quantile(split, BINS, 0.5);
        // The bleed is the cluster just under the hits (the loudest other drum); the
        // ringing or a fainter drum further down is left out of its figures. But when that
        // cluster has the hits' shape (the drum's own ghost notes), the bleed is the next
        // cluster down, and the cluster passed over stays over the gate's threshold with
        // the hits (not past a few strokes of another shape: on a clipped kick those lay
        // over its own ringing, which has a shape of its own too):
        // a funk snare's ghost notes fill the levels where the kick and hi-hat would be
        // heard in its mic. Not further down than bleed is looked for at all.
        // `floor..top` is the candidate bleed, `top..kept` the quietest strokes kept.
        let mut floor = narrow(floor, split);
        let (mut top, mut kept) = (split, BINS);
        while shape_difference(floor, top) < MIN_SHAPE_DB && n[floor] > 0 {
            let below = narrow(0, floor);
            if hit_dbfs - quantile(below, floor, 0.5) > MAX_SEPARATION_DB {
                break;
            }
            (kept, top, floor) = (top, floor, below);
        }
        let bleed_dbfs = quantile(floor, top, 0.5);
        let quietest_kept = quantile(top, kept, 0.05);
        let loudest_bleed = quantile(floor, top, 0.95);
        let gap_db = quietest_kept - loudest_bleed;
        let threshold_dbfs = (quietest_kept + loudest_bleed) / 2.0;
        let hysteresis_db = (gap_db / 2.0).clamp(0.0, MAX_HYSTERESIS_DB);
        let shape_difference_db = shape_difference(floor, top);
        let (decay_s, decays) = ev[split..]
            .iter()
            .fold((0.0, 0u64), |(s, c), b| (s + b.decay_s, c + b.decays));
        let decay_ms = if decays > 0 {
            1e3 * decay_s / decays as f64
        } else {
            0.0
        };
        let closing = threshold_dbfs - hysteresis_db;
        let frames: u64 = self.levels.iter().sum();
        let closed: u64 = self.levels[..bin(closing)].iter().sum();
        let closed_share = closed as f64 / frames.max(1) as f64;
        let hits = n[BINS] - n[split];
        let bleed_events = n[top] - n[floor];
        let soft_strokes = n[split] - n[top];
        let separation = hit_dbfs - bleed_dbfs;
        let found = (MIN_SEPARATION_DB..=MAX_SEPARATION_DB).contains(&separation)
            && gap_db >= MIN_GAP_DB
            && shape_difference_db >= MIN_SHAPE_DB
            && steady(floor, top)
            && bleed_dbfs >= BLEED_MIN_DBFS
            && closed_share >= MIN_CLOSED_SHARE;
        Some(Bleed {
            found,
            hit_dbfs,
            bleed_dbfs,
            threshold_dbfs,
            hysteresis_db,
            gap_db,
            hits,
            bleed_events,
            soft_strokes,
            shape_difference_db,
            decay_ms,
            closed_share,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testsig::*;

    const RATE: f64 = 48_000.0;

    fn measure(x: &[f64]) -> Option<Bleed> {
        let mut m = BleedMeter::new(1, RATE as u32);
        for block in to_f32(x).chunks(4096) {
            m.push(block);
        }
        m.finish()
    }

    fn sum(a: &[f64], b: &[f64]) -> Vec<f64> {
        a.iter().zip(b).map(|(x, y)| x + y).collect()
    }

    #[test]
    fn snare_in_a_kick_mic_is_found_with_a_threshold_between() {
        let (kick, bleed) = kick_and_snare_bleed(&mut Rng(0xb1eed), 20.0, RATE, 20.0);
        let b = measure(&sum(&kick, &bleed)).unwrap();
        assert!(b.found, "{b:?}");
        // Peaks of −6 dBFS less the click's share; the snare's noise peaks a few dB over
        // its −26 dBFS amplitude.
        assert!((b.hit_dbfs + 7.0).abs() < 2.0, "{b:?}");
        assert!((b.hit_dbfs - b.bleed_dbfs - 16.0).abs() < 4.0, "{b:?}");
        assert!(
            b.threshold_dbfs > b.bleed_dbfs + 2.0 && b.threshold_dbfs < b.hit_dbfs - 4.0,
            "{b:?}"
        );
        assert!(
            (38..=42).contains(&b.hits) && (38..=42).contains(&b.bleed_events),
            "{b:?}"
        );
        assert!(b.decay_ms > 50.0 && b.decay_ms < 250.0, "{b:?}");
    }

    #[test]
    fn a_kick_alone_has_no_bleed() {
        let (kick, _) = kick_and_snare_bleed(&mut Rng(0xb1eed), 20.0, RATE, 20.0);
        let b = measure(&kick);
        assert!(!b.as_ref().is_some_and(|b| b.found), "{b:?}");
    }

    #[test]
    fn ghost_notes_of_the_same_drum_are_not_bleed() {
        // Snares with ghost strokes 18 dB down in between: the same shape, so no bleed.
        let mut rng = Rng(0x9057);
        let n = (20.0 * RATE) as usize;
        let mut x = drum_hits(&mut rng, n, RATE, SNARE, (0.1, 0.5), 0.5, 1.0);
        let ghosts = drum_hits(&mut rng, n, RATE, SNARE, (0.35, 0.5), 0.5 / 8.0, 1.0);
        for (v, g) in x.iter_mut().zip(ghosts) {
            *v += g;
        }
        let b = measure(&x).unwrap();
        assert!(b.hit_dbfs - b.bleed_dbfs > 14.0, "{b:?}");
        assert!(!b.found, "{b:?}");
    }

    #[test]
    fn bleed_under_ghost_notes_is_found_under_them() {
        // Snares, ghost strokes 15 dB down and a kick's bleed 30 dB down between them: the
        // ghosts are kept over the threshold, the bleed under it.
        let mut rng = Rng(0x9058);
        let n = (24.0 * RATE) as usize;
        let db = |v: f64| 10f64.powf(v / 20.0);
        let mut x = drum_hits(&mut rng, n, RATE, SNARE, (0.1, 1.2), 0.5, 1.0);
        let ghosts = drum_hits(&mut rng, n, RATE, SNARE, (0.7, 1.2), 0.5 * db(-15.0), 1.0);
        let kicks = drum_hits(&mut rng, n, RATE, KICK, (0.45, 0.6), 0.5 * db(-30.0), 1.0);
        for ((v, g), k) in x.iter_mut().zip(ghosts).zip(kicks) {
            *v += g + k;
        }
        let b = measure(&x).unwrap();
        assert!(b.found, "{b:?}");
        assert_eq!((b.hits, b.soft_strokes), (20, 20), "{b:?}");
        assert!((36..=40).contains(&b.bleed_events), "{b:?}");
        let ghost_peak = 20.0 * (0.5 * db(-15.0)).log10();
        assert!(
            b.threshold_dbfs < ghost_peak - 3.0 && b.threshold_dbfs > b.bleed_dbfs + 2.0,
            "{b:?}"
        );
    }

    #[test]
    fn a_continuous_bass_has_no_bleed() {
        // Legato notes every 250 ms, loud and soft, with a pluck on each.
        let mut rng = Rng(7);
        let n = (20.0 * RATE) as usize;
        let notes = [41.2, 55.0, 61.7, 82.4, 49.0, 73.4];
        let step = (0.25 * RATE) as usize;
        let mut phase = 0.0;
        let x: Vec<f64> = (0..n)
            .map(|i| {
                let k = i / step;
                let f = notes[k % notes.len()];
                let t = (i % step) as f64 / RATE;
                let amp =
                    if k.is_multiple_of(3) { 0.5 } else { 0.1 } * (0.6 + 0.4 * (-t / 0.05).exp());
                phase += 2.0 * std::f64::consts::PI * f / RATE;
                amp * (phase.sin() + 0.3 * (2.0 * phase).sin()) + 1e-4 * rng.gauss()
            })
            .collect();
        let b = measure(&x);
        assert!(!b.as_ref().is_some_and(|b| b.found), "{b:?}");
    }

    #[test]
    fn silence_says_nothing() {
        assert_eq!(measure(&vec![0.0; 48_000]), None);
    }
}
