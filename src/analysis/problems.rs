//! Problems a recording arrives with, found for the repair stage to act on and the report
//! to show: DC offset, rumble, mains hum, broadband noise, clicks and clipping.
//!
//! One streaming pass over the track's blocks ([`ProblemsMeter`]); memory is bounded by
//! a few windows of audio plus a few floats per analysis frame. Each detector returns
//! `None` on clean material: a finding is a claim that something needs fixing.
//!
//! * **DC**: the mean of each channel.
//! * **Clicks** ([`ClickMeter`]): the residual of a second-difference predictor
//!   (e[n] = x[n] − 2x[n−1] + x[n−2], a high-pass that leaves little of the music but all
//!   of an impulse) against its local level: the median |e| of ~1.5 ms sub-blocks, the
//!   larger of the medians over [`CLICK_CONTEXT`] sub-blocks before and after. A sample
//!   [`CLICK_RATIO`] times over it is a click unless the signal's energy after it is
//!   4× what it was before (an onset: drums start abruptly, clicks leave the music as it
//!   was) or it sits on a clipped run (clipping is reported as clipping).
//! * **Clipping**: runs of ≥ [`CLIP_MIN_RUN`] samples exactly at the track's largest
//!   positive (or negative) value ([`RailRuns`]).
//! * **Hum, noise, rumble** share one short-time spectrum: Hann windows of about
//!   [`LINE_WINDOW_S`] (≈ 0.5 Hz bins, so a 49 Hz bass note and 50 Hz mains are two
//!   different lines) every [`LINE_HOP_S`]. Per frame only a few floats are kept: the
//!   bins around each candidate mains line (50·h and 60·h Hz, h = 1…[`HUM_HARMONICS`])
//!   with the median of their neighbouring bins, the broadband power without those lines,
//!   the share of the frame's power in spectral peaks (tonality) and the rumble band's
//!   power. The decisions are taken at the end from those per-frame figures (the "second
//!   pass" runs over the stored frame figures, not over the audio):
//!   - *hum*: in the quietest 30 % of the frames (by broadband power) a line must stand
//!     [`HUM_PROMINENCE_DB`] over its neighbouring bins on average, peak within 0.5 % of
//!     the mains harmonic, and stand out in ≥ 75 % of those frames one by one. Music has
//!     its own partials, but they are neither exactly on mains harmonics nor held through
//!     the quiet passages; a 55 Hz bass note is 5 Hz (10 bins) away from either mains.
//!     50 vs 60 Hz: the family with more lines found (300 Hz, common to both, not
//!     counted), needing its fundamental or two harmonics;
//!   - *noise*: the broadband power of the noise-like frames (less than
//!     [`NOISE_MAX_TONALITY`] of their power in spectral peaks: hiss and room tone are
//!     smooth, quiet music is not; and steady: their 50 ms sub-blocks within
//!     [`NOISE_MAX_UNSTEADINESS_DB`], drum hits are not) within 3 dB of the quietest such
//!     frame; not reported under [`NOISE_MIN_DBFS`] or less than [`NOISE_MIN_SNR_DB`]
//!     under the playing level (the energy mean of the frames within 20 dB of the
//!     loudest 5 %, the activity rule of loudness.rs);
//!   - *rumble*: sub-sonic power ([`RUMBLE_FROM_HZ`] to [`RUMBLE_HZ`]) that is not the
//!     music's own. A bass's note skirts and a clap's or a kick's thump reach below 30 Hz
//!     too, but they come and go with the music: in the track's quietest frames (by the
//!     power above the band) they fall as the rest does. So the music's own share of the
//!     sub band is taken from the loudest frames (sub-band over above-band power) and
//!     scaled to the quietest frames' level; what the quietest frames hold beyond that is
//!     the rumble (the intercept of sub-band power against above-band power through the
//!     quietest and the loudest fifth of the frames). It is reported when it is most of
//!     the quietest frames' sub-band power ([`RUMBLE_MIN_EXCESS`]), at least the
//!     broadband noise floor found (a hiss reaches below 30 Hz too: a pink one holds about
//!     a quarter of its power there, and the denoiser takes it with the rest), and at least
//!     [`RUMBLE_THRESHOLD_DB`] relative to the playing level. A track whose quietest frames
//!     are not [`RUMBLE_MIN_DYNAMICS_DB`] under its loudest cannot tell the two apart and
//!     gets no finding.

use realfft::RealFftPlanner;
use serde::{Deserialize, Serialize};

use std::convert::Infallible;
use std::io;

use super::activity::{Segment, tidy};
use super::loudness::active_threshold;
use super::select::select;
use super::spectrum::{Framer, Stft, fast_len};
use crate::io::spool::{CurveValues, CurveWriter, Spool, SpoolWriter};

/// A DC offset is reported when some channel's mean reaches this (−60 dBFS): well above
/// what music averages to over a track, well below what a repair would notice missing.
pub const DC_THRESHOLD: f64 = 1e-3;
/// A clipped run is at least this many consecutive samples at the rail.
pub const CLIP_MIN_RUN: usize = 3;
/// Clipping is reported from this many runs on: a single run at a track's peak can be a
/// quantised waveform crest (a 16-bit low note holds its top value for a few samples).
pub const CLIP_MIN_RUNS: usize = 2;
/// At most this many run start times (and click times) are listed.
pub const MAX_TIMES: usize = 1000;
/// A click's residual is at least this many times the local median residual. White noise
/// reaches 8× its median |e| about once in 10¹⁵ samples.
pub const CLICK_RATIO: f64 = 12.0;
/// Sub-blocks on each side that set a click's local level.
pub const CLICK_CONTEXT: usize = 4;
/// Sub-block length for clicks, s.
const CLICK_BLOCK_S: f64 = 0.0015;
/// Energy after / before a candidate click above which it is an onset, not a click.
const ONSET_RATIO: f64 = 4.0;
/// Residuals under this never count (digital near-silence), linear.
const CLICK_MIN_RESIDUAL: f64 = 1e-4;
/// Candidates within ±2 samples of a sample this close to a clipping rail (fraction of
/// it) are the clipping's corners, not clicks.
const NEAR_RAIL: f32 = 0.98;
/// Click candidates closer than this (s, any channel) are one click.
const CLICK_MERGE_S: f64 = 0.002;
/// Window of the hum/noise/rumble spectrum, s (about 0.5 Hz bins).
pub const LINE_WINDOW_S: f64 = 2.0;
/// Hop of the hum/noise/rumble spectrum, s.
pub const LINE_HOP_S: f64 = 0.5;
/// Candidate mains frequencies, Hz.
pub const MAINS_HZ: [f64; 2] = [50.0, 60.0];
/// Harmonics of the mains looked at (1 = the fundamental).
pub const HUM_HARMONICS: usize = 8;
/// A hum line stands at least this far over the median of its neighbouring bins (3–8 Hz
/// away), power per bin compared over its main lobe, dB.
pub const HUM_PROMINENCE_DB: f64 = 10.0;
/// Share of the quiet frames in which a hum line must stand out on its own.
const HUM_PERSISTENCE: f64 = 0.5;
/// Share of the frames (quietest first) the hum is looked for in.
const HUM_QUIET_SHARE: f64 = 0.3;
/// A hum line's measured frequency may be this many bins (interpolation error) plus this
/// fraction of its frequency (mains drift) off the exact mains harmonic.
const LINE_TOLERANCE_BINS: f64 = 0.5;
const LINE_TOLERANCE: f64 = 0.001;
/// Frames whose 50 ms sub-blocks spread more than this (90th over 10th percentile of their
/// energies) are not steady enough to be noise (drum hits, notes coming and going), dB.
pub const NOISE_MAX_UNSTEADINESS_DB: f64 = 6.0;
/// Sub-block length for the steadiness of a frame, s.
const STEADY_BLOCK_S: f64 = 0.05;
/// Region stored around each candidate line, ± Hz.
const LINE_HALF_HZ: f64 = 2.0;
/// Neighbouring bins of a line for its local noise, Hz away from it.
const NEIGHBOUR_HZ: (f64, f64) = (3.0, 8.0);
/// Top of the rumble band, Hz.
pub const RUMBLE_HZ: f64 = 30.0;
/// Bottom of the rumble band (clear of DC, which has its own detector), Hz.
pub const RUMBLE_FROM_HZ: f64 = 5.0;
/// Rumble is reported from this level relative to the playing level, dB.
pub const RUMBLE_THRESHOLD_DB: f64 = -20.0;
/// Share of the frames (quietest first, and loudest first) whose sub-band power is
/// compared.
const RUMBLE_FRAME_SHARE: f64 = 0.2;
/// Share of the quietest frames' sub-band power that must be beyond the music's own for
/// a finding: a sub band that follows the music's level is the instrument's.
pub const RUMBLE_MIN_EXCESS: f64 = 0.5;
/// The quietest frames must be at least this far under the loudest (power above the
/// band), dB, for the music's own sub band to be told from a steady one: the estimate
/// divides by 1 − 10^(−dB/10), and a music's sub-band share moves by 1–2 dB between
/// passages on its own. funk_machine's clean bass, 4 dB between its quietest and loudest
/// fifth, read half its quiet frames' sub band as steady (−19.8 dB) at a 3 dB limit.
const RUMBLE_MIN_DYNAMICS_DB: f64 = 6.0;
/// A noise floor under this is not reported, dBFS.
pub const NOISE_MIN_DBFS: f64 = -80.0;
/// Frames with more than this share of their power in spectral peaks are not noise.
pub const NOISE_MAX_TONALITY: f64 = 0.3;
/// A "floor" less than this under the playing level is the music itself (a pad, a
/// sustained string section), not noise under it, dB.
pub const NOISE_MIN_SNR_DB: f64 = 3.0;
/// A floor closer to the playing level than [`NOISE_MIN_SNR_DB`] is still noise when at
/// least this share of the track's 50 ms blocks sit at it (within [`FLOOR_BAND_DB`] of
/// their 10th percentile): a hiss louder than a quiet hi-hat's hits, which rise over it
/// only now and then. Music does not hold one level so long: on the 85 clean benchmark
/// stems the share is at most 0.35 (an organ), on the hi-hat under hiss 0.90.
pub const STEADY_FLOOR_SHARE: f64 = 0.5;
/// Half-width of "at the floor" for [`STEADY_FLOOR_SHARE`], dB: a 50 ms block of steady
/// noise is within ±0.4 dB (1 σ) of its mean power at 44.1 kHz.
const FLOOR_BAND_DB: f64 = 1.5;
/// Frames within this of the quietest noise-like frame measure the floor, dB.
const NOISE_SPREAD_DB: f64 = 3.0;
/// A bin is a spectral peak when it exceeds the median of its 32-bin block this much.
const PEAK_FACTOR: f64 = 10.0;
/// Frames under this total power are digital silence.
const SILENT_POWER: f64 = 1e-12;
/// Frames of line data read back at once (150 kB at 48 kHz).
const ROWS_PER_READ: usize = 256;

/// A constant offset of the waveform.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DcOffset {
    /// Mean of each channel (signed, linear full scale).
    pub per_channel: Vec<f64>,
    /// The largest |mean| over channels, dBFS.
    pub level_db: f64,
}

/// Sub-sonic energy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Rumble {
    /// The band measured is from a few Hz (above DC) up to this frequency, Hz.
    pub below_hz: f64,
    /// Power in that band that is not the music's own (measured in the quietest frames)
    /// relative to the playing level, dB.
    pub level_db: f64,
}

/// One spectral line of mains hum.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HumLine {
    /// Measured frequency of the line, Hz.
    pub freq_hz: f64,
    /// RMS level of the line (a sine of amplitude A reads 20·log10(A/√2)), dBFS.
    pub level_dbfs: f64,
}

/// Mains hum: a line at 50 or 60 Hz and/or its harmonics, present all through the track.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Hum {
    /// Mains frequency, 50 or 60 Hz.
    pub mains_hz: f64,
    /// RMS level of all the hum lines together, dBFS.
    pub level_dbfs: f64,
    /// Every line found, fundamental included, in frequency order.
    pub harmonics: Vec<HumLine>,
}

/// Broadband noise (hiss, room tone) measured where the track is quietest.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NoiseFloor {
    /// RMS level of the noise (hum lines and DC excluded), dBFS.
    pub level_dbfs: f64,
    /// Level where the track plays over the noise level, dB.
    pub snr_db: f64,
    /// The passages the noise was measured in: where a denoiser can learn its profile.
    pub quiet: Vec<Segment>,
    /// Share of the track's 50 ms blocks (digital silence left out) within 1.5 dB of
    /// their 10th percentile: near 1 for a steady floor that the music rises over only now
    /// and then, low for music that moves.
    #[serde(default)]
    pub floor_share: f64,
}

/// Clicks and pops: isolated impulses that do not belong to the music.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Clicks {
    /// Number of clicks found.
    pub count: usize,
    /// Their times, s (the first [`MAX_TIMES`]).
    pub times_s: Vec<f64>,
}

/// Runs of samples held at the track's extreme values.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Clipping {
    /// The rail: the largest |sample| of the track, linear full scale.
    pub rail: f32,
    /// Number of runs of at least [`CLIP_MIN_RUN`] samples at a rail (per channel).
    pub runs: usize,
    /// Samples in those runs.
    pub samples: u64,
    /// Longest run, samples.
    pub longest_run: usize,
    /// Start times of the runs, s (the first [`MAX_TIMES`]).
    pub times_s: Vec<f64>,
    /// Share of the track's samples (all channels) in those runs.
    #[serde(default)]
    pub share: f64,
}

/// Everything found wrong with one track; each field `None` when that problem is absent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Problems {
    /// DC offset.
    pub dc: Option<DcOffset>,
    /// Rumble.
    pub rumble: Option<Rumble>,
    /// Mains hum.
    pub hum: Option<Hum>,
    /// Broadband noise floor.
    pub noise: Option<NoiseFloor>,
    /// Clicks.
    pub clicks: Option<Clicks>,
    /// Clipping.
    pub clipping: Option<Clipping>,
}

impl Problems {
    /// A one-line summary for people ("none" when clean).
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(d) = &self.dc {
            parts.push(format!("DC {:.1} dBFS", d.level_db));
        }
        if let Some(r) = &self.rumble {
            parts.push(format!(
                "rumble {:.1} dB below {} Hz",
                r.level_db, r.below_hz
            ));
        }
        if let Some(h) = &self.hum {
            parts.push(format!(
                "{} Hz hum {:.1} dBFS ({} lines)",
                h.mains_hz,
                h.level_dbfs,
                h.harmonics.len()
            ));
        }
        if let Some(n) = &self.noise {
            parts.push(format!(
                "noise {:.1} dBFS (SNR {:.1} dB)",
                n.level_dbfs, n.snr_db
            ));
        }
        if let Some(c) = &self.clicks {
            parts.push(format!("{} clicks", c.count));
        }
        if let Some(c) = &self.clipping {
            parts.push(format!(
                "clipping: {} runs, {} samples, longest {}",
                c.runs, c.samples, c.longest_run
            ));
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

/// Streaming problem finder: push interleaved blocks, then [`ProblemsMeter::finish`].
pub struct ProblemsMeter {
    channels: usize,
    rate: f64,
    frames: u64,
    sum: Vec<f64>,
    clip_high: RailRuns,
    clip_low: RailRuns,
    lines: LineMeter,
    clicks: ClickMeter,
    floor: FloorBlocks,
}

impl ProblemsMeter {
    /// A finder for `channels` (≥ 1) interleaved channels at `rate` Hz (> 0).
    pub fn new(channels: usize, rate: u32) -> ProblemsMeter {
        let channels = channels.max(1);
        ProblemsMeter {
            channels,
            rate: rate.max(1) as f64,
            frames: 0,
            sum: vec![0.0; channels],
            clip_high: RailRuns::new(channels),
            clip_low: RailRuns::new(channels),
            lines: LineMeter::new(channels, rate.max(1) as f64),
            clicks: ClickMeter::new(channels, rate.max(1) as f64),
            floor: FloorBlocks::new(channels, rate.max(1) as f64),
        }
    }

    /// Adds interleaved frames (a whole number of frames).
    pub fn push(&mut self, block: &[f32]) {
        let ch = self.channels;
        for (i, frame) in block.chunks_exact(ch).enumerate() {
            let t = self.frames + i as u64;
            for (c, &x) in frame.iter().enumerate() {
                let x = if x.is_finite() { x } else { 0.0 };
                self.sum[c] += x as f64;
                self.clip_high.push(c, t, x);
                self.clip_low.push(c, t, -x);
                self.floor.push(c, x);
            }
            self.floor.end_frame();
        }
        self.frames += (block.len() / ch) as u64;
        self.lines.push(block);
        self.clicks.push(block);
    }

    /// What was found in everything pushed.
    pub fn finish(mut self) -> io::Result<Problems> {
        let rows = self.lines.take_rows()?;
        let hum = self.lines.hum(&rows)?;
        drop(rows);
        let dc = self.dc();
        let all = self.frames * self.sum.len() as u64;
        let clipping = clipping(&mut self.clip_high, &mut self.clip_low, self.rate, all);
        // Candidates on a clipped run belong to the clipping.
        let rails = clipping
            .is_some()
            .then_some((self.clip_high.rail, -self.clip_low.rail));
        let noise = self.lines.noise(self.floor.share()?);
        Ok(Problems {
            dc,
            rumble: self
                .lines
                .rumble(noise.as_ref().map(|n| 10f64.powf(n.level_dbfs / 10.0))),
            noise,
            hum,
            clicks: self.clicks.finish(rails),
            clipping,
        })
    }

    fn dc(&self) -> Option<DcOffset> {
        if self.frames == 0 {
            return None;
        }
        let per_channel: Vec<f64> = self.sum.iter().map(|s| s / self.frames as f64).collect();
        let worst = per_channel.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        (worst >= DC_THRESHOLD).then(|| DcOffset {
            level_db: 20.0 * worst.log10(),
            per_channel,
        })
    }
}

/// A candidate mains line: its frequency and which mains it belongs to.
struct Candidate {
    freq_hz: f64,
    /// Index of the bin the stored region starts at.
    first_bin: usize,
    /// Harmonic number under 50 Hz and under 60 Hz mains (0: not a harmonic of it).
    harmonic: [usize; 2],
    /// Bins of the neighbourhood (both sides).
    neighbours: Vec<usize>,
}

/// The short-time spectrum behind hum, noise and rumble, reduced to a few floats a frame.
struct LineMeter {
    rate: f64,
    channels: usize,
    framer: Framer,
    stft: Stft,
    hop: i64,
    next: i64,
    df: f64,
    power: Vec<f64>,
    candidates: Vec<Candidate>,
    /// Bins stored per candidate (2·radius + 1).
    region: usize,
    /// Per frame a row: the region bins of every candidate, then its neighbour median; on
    /// disk (a row is 600 bytes, 4 MB per track-hour), read back in passes by [`Self::hum`].
    rows: io::Result<SpoolWriter>,
    /// The row being filled.
    row: Vec<f32>,
    /// Per frame: power without the candidate lines (20 Hz up), mean square.
    broadband: Vec<f64>,
    /// Per frame: all power above DC.
    total: Vec<f64>,
    /// Per frame: share of the power in spectral peaks (candidate lines excluded).
    tonality: Vec<f32>,
    /// Per frame: spread of the 50 ms sub-block energies, dB (90th over 10th percentile).
    unsteadiness: Vec<f32>,
    samples: Vec<f32>,
    /// Per frame: power from [`RUMBLE_FROM_HZ`] to [`RUMBLE_HZ`], and above.
    sub: Vec<[f32; 2]>,
    scratch: Vec<f64>,
}

impl LineMeter {
    fn new(channels: usize, rate: f64) -> LineMeter {
        let mut planner = RealFftPlanner::new();
        let stft = Stft::new(
            fast_len((LINE_WINDOW_S * rate).round() as usize),
            channels,
            &mut planner,
        );
        let df = rate / stft.len as f64;
        let radius = (LINE_HALF_HZ / df).ceil() as usize;
        let mut freqs: Vec<f64> = MAINS_HZ
            .iter()
            .flat_map(|m| (1..=HUM_HARMONICS).map(move |h| m * h as f64))
            .filter(|f| f + NEIGHBOUR_HZ.1 < 0.45 * rate)
            .collect();
        freqs.sort_by(f64::total_cmp);
        freqs.dedup();
        let candidates = freqs
            .into_iter()
            .map(|f| {
                let centre = (f / df).round() as usize;
                let near = (NEIGHBOUR_HZ.0 / df).round() as usize;
                let far = (NEIGHBOUR_HZ.1 / df).round() as usize;
                let neighbours = (near..=far)
                    .flat_map(|d| [centre - d, centre + d])
                    .collect();
                let harmonic = MAINS_HZ.map(|m| {
                    let h = f / m;
                    if (h - h.round()).abs() < 1e-9 {
                        h.round() as usize
                    } else {
                        0
                    }
                });
                Candidate {
                    freq_hz: f,
                    first_bin: centre - radius,
                    harmonic,
                    neighbours,
                }
            })
            .collect::<Vec<_>>();
        // A row per frame: the region (2·radius + 1 bins) and the neighbour median of each
        // candidate (at least one value, so an empty row is a valid spool frame).
        let rows = SpoolWriter::new((candidates.len() * (2 * radius + 2)).max(1));
        LineMeter {
            rate,
            channels,
            framer: Framer::new(channels),
            hop: ((LINE_HOP_S * rate).round() as i64).max(1),
            next: 0,
            df,
            power: vec![0.0; stft.bins()],
            candidates,
            region: 2 * radius + 1,
            rows,
            row: Vec::new(),
            broadband: Vec::new(),
            total: Vec::new(),
            tonality: Vec::new(),
            unsteadiness: Vec::new(),
            samples: vec![0.0; stft.len],
            sub: Vec::new(),
            scratch: Vec::new(),
            stft,
        }
    }

    fn push(&mut self, block: &[f32]) {
        self.framer.push(block);
        while self.next + self.stft.len as i64 <= self.framer.received {
            self.frame();
            self.next += self.hop;
        }
        self.framer.release(self.next, self.stft.len);
    }

    fn bin(&self, hz: f64) -> usize {
        ((hz / self.df).ceil() as usize).min(self.power.len())
    }

    fn frame(&mut self) {
        self.stft.analyse(&self.framer, self.next);
        let scale = self.stft.norm / self.channels as f64;
        self.power.fill(0.0);
        for spectrum in &self.stft.spectra {
            for (k, (p, x)) in self.power.iter_mut().zip(spectrum).enumerate() {
                let x = x.norm_sqr() as f64;
                // A NaN or infinite sample poisons a whole frame: count it as empty.
                *p += if x.is_finite() {
                    self.stft.side_weight(k) * scale * x
                } else {
                    0.0
                };
            }
        }
        let p = &self.power;
        let lobe = 2; // Hann main lobe: ±2 bins
        let mut lines_excess = 0.0;
        let mut in_line = vec![false; p.len()];
        for c in &self.candidates {
            let region = &p[c.first_bin..c.first_bin + self.region];
            self.scratch.clear();
            self.scratch.extend(c.neighbours.iter().map(|&k| p[k]));
            let noise = median(&mut self.scratch);
            self.row.extend(region.iter().map(|&v| v as f32));
            self.row.push(noise as f32);
            let centre = self.region / 2;
            let main: f64 = region[centre - lobe..=centre + lobe].iter().sum();
            lines_excess += (main - (2 * lobe + 1) as f64 * noise).max(0.0);
            in_line[c.first_bin..c.first_bin + self.region].fill(true);
        }
        if let Ok(w) = &mut self.rows
            && let Err(e) = w.write(&self.row)
        {
            self.rows = Err(e);
        }
        self.row.clear();
        let k20 = self.bin(20.0);
        let broadband: f64 = p[k20..].iter().sum::<f64>() - lines_excess;
        self.broadband.push(broadband.max(0.0));
        let (k_lo, k_hi) = (self.bin(RUMBLE_FROM_HZ), self.bin(RUMBLE_HZ));
        self.total.push(p[1..].iter().sum());
        self.sub.push([
            p[k_lo..k_hi].iter().sum::<f64>() as f32,
            p[k_hi..].iter().sum::<f64>() as f32,
        ]);
        // Tonality: power in bins 10× over their 32-bin block's median, lines left out.
        let (mut peaky, mut all) = (0.0, 0.0);
        for (block, skip) in p[k20..].chunks(32).zip(in_line[k20..].chunks(32)) {
            self.scratch.clear();
            self.scratch.extend(
                block
                    .iter()
                    .zip(skip)
                    .filter(|(_, s)| !**s)
                    .map(|(v, _)| *v),
            );
            if self.scratch.is_empty() {
                continue;
            }
            let m = median(&mut self.scratch);
            for (&v, &s) in block.iter().zip(skip) {
                if !s {
                    all += v;
                    if v > PEAK_FACTOR * m {
                        peaky += v;
                    }
                }
            }
        }
        self.tonality
            .push(if all > 0.0 { (peaky / all) as f32 } else { 0.0 });
        let unsteadiness = self.unsteadiness_db();
        self.unsteadiness.push(unsteadiness);
    }

    /// How much the level moves inside the current frame: 90th over 10th percentile of the
    /// energies of its 50 ms sub-blocks, dB; infinite when a sub-block is digital silence (an edit, not noise).
    fn unsteadiness_db(&mut self) -> f32 {
        let sub = ((STEADY_BLOCK_S * self.rate).round() as usize).max(1);
        let mut energy = vec![0.0f64; self.samples.len() / sub];
        for c in 0..self.channels {
            self.framer.copy(self.next, c, &mut self.samples);
            for (e, block) in energy.iter_mut().zip(self.samples.chunks_exact(sub)) {
                *e += block
                    .iter()
                    .map(|&x| {
                        if x.is_finite() {
                            (x as f64).powi(2)
                        } else {
                            0.0
                        }
                    })
                    .sum::<f64>();
            }
        }
        if energy.is_empty() {
            return 0.0;
        }
        energy.sort_by(f64::total_cmp);
        let at = |q: f64| energy[((energy.len() - 1) as f64 * q).round() as usize];
        let (lo, hi) = (at(0.1), at(0.9));
        if lo > 0.0 {
            (10.0 * (hi / lo).log10()) as f32
        } else {
            f32::INFINITY
        }
    }

    fn frames(&self) -> usize {
        self.broadband.len()
    }

    fn frame_span(&self, j: usize) -> Segment {
        let start = j as f64 * self.hop as f64 / self.rate;
        Segment {
            start_s: start,
            end_s: start + self.stft.len as f64 / self.rate,
        }
    }

    /// Non-silent frames ordered by broadband power, quietest first.
    fn by_quietness(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.frames())
            .filter(|&j| self.total[j] > SILENT_POWER)
            .collect();
        order.sort_by(|&a, &b| {
            self.broadband[a]
                .total_cmp(&self.broadband[b])
                .then(a.cmp(&b))
        });
        order
    }

    /// The rows stored by the frames, readable; the first error met writing them.
    fn take_rows(&mut self) -> io::Result<Spool> {
        std::mem::replace(&mut self.rows, Err(io::Error::other("rows taken")))?.finish()
    }

    fn hum(&self, rows: &Spool) -> io::Result<Option<Hum>> {
        let order = self.by_quietness();
        if order.is_empty() || self.candidates.is_empty() {
            return Ok(None);
        }
        let take = ((order.len() as f64 * HUM_QUIET_SHARE).ceil() as usize).clamp(1, order.len());
        let mut quiet = vec![false; self.frames()];
        order[..take].iter().for_each(|&j| quiet[j] = true);
        drop(order);
        let stride = self.candidates.len() * (self.region + 1);
        // The rows of the quiet frames, in frame order, read from disk.
        let each_quiet = |f: &mut dyn FnMut(&[f32])| -> io::Result<()> {
            let mut blocks = rows.blocks(ROWS_PER_READ);
            let mut j = 0;
            while let Some(b) = blocks.next_block()? {
                for row in b.chunks_exact(stride) {
                    if quiet[j] {
                        f(row);
                    }
                    j += 1;
                }
            }
            Ok(())
        };
        // Per bin the median over the quiet frames: a line held through them stands out, a
        // kick or a note in a few of them does not. Exact, by passes over the rows.
        let medians = select(vec![(take / 2) as u64; stride], |feed| {
            each_quiet(&mut |row| {
                row.iter()
                    .enumerate()
                    .for_each(|(c, &v)| feed(c, f64::from(v)))
            })
        })?;
        let prominence = 10f64.powf(HUM_PROMINENCE_DB / 10.0);
        let lobe = 2usize;
        let width = (2 * lobe + 1) as f64;
        // Lines that stand out in the medians: candidate, freq, power, peak bin.
        let mut standing_out: Vec<(usize, f64, f64, usize)> = Vec::new();
        for (ci, c) in self.candidates.iter().enumerate() {
            let typical = &medians[ci * (self.region + 1)..(ci + 1) * (self.region + 1)];
            let noise = typical[self.region];
            let region = &typical[..self.region];
            let peak = (lobe..self.region - lobe)
                .max_by(|&a, &b| region[a].total_cmp(&region[b]))
                .expect("the region is wider than the main lobe");
            // Peak frequency by a parabola through the log powers around the top bin.
            let db = |i: usize| 10.0 * region[i].max(1e-30).log10();
            let (a, b, g) = (db(peak - 1), db(peak), db(peak + 1));
            let den = a - 2.0 * b + g;
            let offset = if den < 0.0 {
                (0.5 * (a - g) / den).clamp(-0.5, 0.5)
            } else {
                0.0
            };
            let freq = (c.first_bin + peak) as f64 * self.df + offset * self.df;
            if (freq - c.freq_hz).abs() > LINE_TOLERANCE_BINS * self.df + LINE_TOLERANCE * c.freq_hz
            {
                continue;
            }
            let main: f64 = region[peak - lobe..=peak + lobe].iter().sum();
            let excess = main - width * noise;
            if excess < prominence * width * noise || excess < SILENT_POWER {
                continue;
            }
            standing_out.push((ci, freq, excess, peak));
        }
        // Held: standing out in enough of the quiet frames one by one (one more pass).
        let mut standing = vec![0usize; standing_out.len()];
        each_quiet(&mut |row| {
            for (n, &(ci, _, _, peak)) in standing.iter_mut().zip(&standing_out) {
                let d = &row[ci * (self.region + 1)..(ci + 1) * (self.region + 1)];
                let m: f64 = d[peak - lobe..=peak + lobe].iter().map(|&v| v as f64).sum();
                if m > 2.0 * (d[self.region] as f64 * width) {
                    *n += 1;
                }
            }
        })?;
        let found: Vec<(usize, f64, f64)> = standing_out
            .iter()
            .zip(&standing)
            .filter(|&(_, &n)| (n as f64) >= HUM_PERSISTENCE * take as f64)
            .map(|(&(ci, freq, excess, _), _)| (ci, freq, excess))
            .collect();
        // Which mains: more lines of its own (shared lines do not decide), then more power.
        let family = |m: usize| {
            let own: Vec<&(usize, f64, f64)> = found
                .iter()
                .filter(|(ci, ..)| {
                    let h = self.candidates[*ci].harmonic;
                    h[m] > 0 && h[1 - m] == 0
                })
                .collect();
            let fundamental = own
                .iter()
                .any(|(ci, ..)| self.candidates[*ci].harmonic[m] == 1);
            let power: f64 = own.iter().map(|f| f.2).sum();
            (own.len(), fundamental, power)
        };
        let (f50, f60) = (family(0), family(1));
        let m = if (f60.0, f60.2) > (f50.0, f50.2) {
            1
        } else {
            0
        };
        let (count, fundamental, _) = if m == 0 { f50 } else { f60 };
        if !(fundamental || count >= 2) {
            return Ok(None);
        }
        let harmonics: Vec<HumLine> = found
            .iter()
            .filter(|(ci, ..)| self.candidates[*ci].harmonic[m] > 0)
            .map(|&(_, freq, p)| HumLine {
                freq_hz: freq,
                level_dbfs: 10.0 * p.log10(),
            })
            .collect();
        let total: f64 = found
            .iter()
            .filter(|(ci, ..)| self.candidates[*ci].harmonic[m] > 0)
            .map(|f| f.2)
            .sum();
        Ok(Some(Hum {
            mains_hz: MAINS_HZ[m],
            level_dbfs: 10.0 * total.log10(),
            harmonics,
        }))
    }

    /// The noise floor; `floor_share` is [`FloorBlocks::share`].
    fn noise(&self, floor_share: f64) -> Option<NoiseFloor> {
        let noisy: Vec<usize> = self
            .by_quietness()
            .into_iter()
            .filter(|&j| {
                (self.tonality[j] as f64) < NOISE_MAX_TONALITY
                    && (self.unsteadiness[j] as f64) <= NOISE_MAX_UNSTEADINESS_DB
            })
            .collect();
        let &first = noisy.first()?;
        let floor = self.broadband[first];
        if floor <= 10f64.powf(NOISE_MIN_DBFS / 10.0) {
            return None;
        }
        let limit = floor * 10f64.powf(NOISE_SPREAD_DB / 10.0);
        let quiet: Vec<usize> = noisy
            .into_iter()
            .take_while(|&j| self.broadband[j] <= limit)
            .collect();
        let level = 10.0
            * (quiet.iter().map(|&j| self.broadband[j]).sum::<f64>() / quiet.len() as f64).log10();
        let playing = 10.0 * self.playing_power()?.log10();
        if playing - level < NOISE_MIN_SNR_DB && floor_share < STEADY_FLOOR_SHARE {
            return None;
        }
        let mut spans: Vec<usize> = quiet;
        spans.sort_unstable();
        Some(NoiseFloor {
            level_dbfs: level,
            snr_db: playing - level,
            quiet: tidy(spans.into_iter().map(|j| self.frame_span(j)), 0.0, 0.0),
            floor_share,
        })
    }

    /// The playing level: the energy mean of the active frames by the loudness activity
    /// rule (mean square, linear); `None` when nothing plays over [`NOISE_MIN_DBFS`].
    fn playing_power(&self) -> Option<f64> {
        let levels: Vec<f64> = self
            .total
            .iter()
            .map(|&p| 10.0 * p.max(1e-30).log10())
            .collect();
        let threshold = match active_threshold::<Infallible>(
            |f| {
                levels.iter().for_each(|&v| f(v));
                Ok(())
            },
            NOISE_MIN_DBFS,
        ) {
            Ok(t) => t?,
            Err(e) => match e {},
        };
        let active: Vec<f64> = self
            .total
            .iter()
            .zip(&levels)
            .filter(|(_, l)| **l >= threshold)
            .map(|(p, _)| *p)
            .collect();
        (!active.is_empty()).then(|| active.iter().sum::<f64>() / active.len() as f64)
    }

    /// Sub-sonic power that is not the music's own (see the module doc); `noise` is the
    /// broadband noise floor found (mean square), if any.
    fn rumble(&self, noise: Option<f64>) -> Option<Rumble> {
        let mut order: Vec<usize> = (0..self.frames())
            .filter(|&j| self.total[j] > SILENT_POWER)
            .collect();
        order.sort_by(|&a, &b| self.sub[a][1].total_cmp(&self.sub[b][1]).then(a.cmp(&b)));
        let take = (order.len() as f64 * RUMBLE_FRAME_SHARE).ceil() as usize;
        if take == 0 {
            return None;
        }
        let mean = |frames: &[usize], i: usize| {
            frames
                .iter()
                .map(|&j| f64::from(self.sub[j][i]))
                .sum::<f64>()
                / frames.len() as f64
        };
        let (quiet, loud) = (&order[..take], &order[order.len() - take..]);
        let (sub, above) = (mean(quiet, 0), mean(quiet, 1));
        let (loud_sub, loud_above) = (mean(loud, 0), mean(loud, 1));
        // sub = own · above + rumble through the quiet and the loud frames: the rumble is
        // the intercept. Without a level difference it cannot be told from the music's own.
        if loud_above <= 0.0 {
            return None;
        }
        let rho = above / loud_above;
        if rho > 10f64.powf(-RUMBLE_MIN_DYNAMICS_DB / 10.0) {
            return None;
        }
        let rumble = (sub - loud_sub * rho) / (1.0 - rho);
        if rumble <= RUMBLE_MIN_EXCESS * sub || rumble < noise.unwrap_or(0.0) {
            return None;
        }
        let level_db = 10.0 * (rumble / self.playing_power()?).log10();
        (level_db >= RUMBLE_THRESHOLD_DB).then_some(Rumble {
            below_hz: RUMBLE_HZ,
            level_db,
        })
    }
}

/// Power of the track's 50 ms blocks (each channel's variance, so DC does not count,
/// summed over channels): one float per block, on disk (288 kB per track-hour), read back
/// in passes by [`FloorBlocks::share`].
struct FloorBlocks {
    len: usize,
    n: usize,
    sum: Vec<f64>,
    square: Vec<f64>,
    power: CurveWriter,
}

impl FloorBlocks {
    fn new(channels: usize, rate: f64) -> FloorBlocks {
        FloorBlocks {
            len: ((STEADY_BLOCK_S * rate).round() as usize).max(1),
            n: 0,
            sum: vec![0.0; channels],
            square: vec![0.0; channels],
            power: CurveWriter::new(),
        }
    }

    fn push(&mut self, c: usize, x: f32) {
        self.sum[c] += f64::from(x);
        self.square[c] += f64::from(x) * f64::from(x);
    }

    /// Closes a sample frame (one sample of every channel).
    fn end_frame(&mut self) {
        self.n += 1;
        if self.n == self.len {
            let n = self.len as f64;
            let p: f64 = self
                .sum
                .iter()
                .zip(&self.square)
                .map(|(s, q)| (q / n - (s / n) * (s / n)).max(0.0))
                .sum();
            self.power.push(p as f32);
            self.sum.fill(0.0);
            self.square.fill(0.0);
            self.n = 0;
        }
    }

    /// Share of the non-silent blocks within [`FLOOR_BAND_DB`] of their 10th percentile
    /// (exact, by [`select`] over the stored powers); fails when the temporary folder does.
    fn share(self) -> io::Result<f64> {
        let power = self.power.finish()?;
        // The non-silent blocks' levels, dB, in passes over the curve.
        let each_db = |f: &mut dyn FnMut(f64)| {
            power.each(&mut |p| {
                if let Some(p) = p
                    && f64::from(p) > SILENT_POWER
                {
                    f(10.0 * f64::from(p).log10());
                }
            })
        };
        let mut n = 0u64;
        each_db(&mut |_| n += 1)?;
        if n == 0 {
            return Ok(0.0);
        }
        let low = select(vec![(n - 1) / 10], |feed| each_db(&mut |d| feed(0, d)))?[0];
        let mut near = 0u64;
        each_db(&mut |d| near += u64::from((d - low).abs() <= FLOOR_BAND_DB))?;
        Ok(near as f64 / n as f64)
    }
}

/// Median of `v` (reordered), 0 for empty.
fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    *v.select_nth_unstable_by(mid, f64::total_cmp).1
}

/// One channel of the click finder: its recent samples and per-sub-block statistics.
struct ClickChannel {
    /// Samples from absolute index `x_origin`.
    x: Vec<f32>,
    x_origin: u64,
    /// Per sub-block from absolute block `stats_origin`: median |residual|, energy of x.
    stats: Vec<(f64, f64)>,
    stats_origin: u64,
    /// Sub-blocks evaluated so far.
    evaluated: u64,
}

/// Streaming click finder (see the module notes). Memory: a few sub-blocks per channel
/// and up to [`MAX_CLICK_CANDIDATES`] candidate times.
struct ClickMeter {
    rate: f64,
    sub: usize,
    chans: Vec<ClickChannel>,
    /// Candidate time (sample index) and the extremes of x around it (±2 samples).
    candidates: Vec<(u64, f32, f32)>,
    scratch: Vec<f64>,
}

/// Candidates kept at most (a crackling record has thousands of clicks; the count beyond
/// this is not needed to decide on declicking).
const MAX_CLICK_CANDIDATES: usize = 100_000;

impl ClickMeter {
    fn new(channels: usize, rate: f64) -> ClickMeter {
        ClickMeter {
            rate,
            sub: ((CLICK_BLOCK_S * rate).round() as usize).max(8),
            chans: (0..channels)
                .map(|_| ClickChannel {
                    x: Vec::new(),
                    x_origin: 0,
                    stats: Vec::new(),
                    stats_origin: 0,
                    evaluated: 0,
                })
                .collect(),
            candidates: Vec::new(),
            scratch: Vec::new(),
        }
    }

    fn push(&mut self, block: &[f32]) {
        let ch = self.chans.len();
        for (c, chan) in self.chans.iter_mut().enumerate() {
            chan.x.extend(
                block
                    .iter()
                    .skip(c)
                    .step_by(ch)
                    .map(|&v| if v.is_finite() { v } else { 0.0 }),
            );
        }
        for c in 0..ch {
            self.advance(c, false);
        }
    }

    /// Computes the statistics of complete sub-blocks and evaluates those with enough
    /// context after them (all of them at the end).
    fn advance(&mut self, c: usize, end: bool) {
        let sub = self.sub as u64;
        let received = self.chans[c].x_origin + self.chans[c].x.len() as u64;
        loop {
            let chan = &self.chans[c];
            let b = chan.stats_origin + chan.stats.len() as u64;
            let (from, to) = (b * sub, ((b + 1) * sub).min(received));
            if to <= from || (to - from < sub && !end) {
                break;
            }
            self.scratch.clear();
            let mut energy = 0.0;
            for n in from..to {
                self.scratch.push(residual(chan, n).abs() as f64);
                energy += (chan.x[(n - chan.x_origin) as usize] as f64).powi(2);
            }
            let med = median(&mut self.scratch);
            self.chans[c].stats.push((med, energy / (to - from) as f64));
        }
        let k = CLICK_CONTEXT as u64;
        loop {
            let chan = &self.chans[c];
            let have = chan.stats_origin + chan.stats.len() as u64;
            let b = chan.evaluated;
            if b >= have || (b + k >= have && !end) {
                break;
            }
            self.evaluate(c, b, have);
            self.chans[c].evaluated += 1;
        }
        // Forget what no later sub-block needs: K sub-blocks of context (+2 samples).
        let chan = &mut self.chans[c];
        let keep_block = chan.evaluated.saturating_sub(k + 1);
        if keep_block > chan.stats_origin + 64 {
            let drop = (keep_block - chan.stats_origin) as usize;
            chan.stats.drain(..drop);
            chan.stats_origin = keep_block;
            let keep_x = keep_block * sub;
            let drop_x = (keep_x - chan.x_origin) as usize;
            chan.x.drain(..drop_x);
            chan.x_origin = keep_x;
        }
    }

    fn evaluate(&mut self, c: usize, b: u64, have: u64) {
        let k = CLICK_CONTEXT as u64;
        let chan = &self.chans[c];
        let stat = |i: u64| chan.stats[(i - chan.stats_origin) as usize];
        let lo = b.saturating_sub(k).max(chan.stats_origin);
        let hi = (b + k).min(have - 1);
        self.scratch.clear();
        self.scratch.extend((lo..=b).map(|i| stat(i).0));
        let before = median(&mut self.scratch);
        self.scratch.clear();
        self.scratch.extend((b..=hi).map(|i| stat(i).0));
        let after = median(&mut self.scratch);
        let threshold = (CLICK_RATIO * before.max(after)).max(CLICK_MIN_RESIDUAL);
        let sub = self.sub as u64;
        let received = chan.x_origin + chan.x.len() as u64;
        let Some(n) = (b * sub..((b + 1) * sub).min(received))
            .find(|&n| residual(chan, n).abs() as f64 > threshold)
        else {
            return;
        };
        let mean = |r: std::ops::RangeInclusive<u64>| {
            let len = r.clone().count().max(1) as f64;
            r.map(|i| stat(i).1).sum::<f64>() / len
        };
        let e_before = if b > lo { mean(lo..=b - 1) } else { 0.0 };
        let e_after = if hi > b { mean(b + 1..=hi) } else { 0.0 };
        if e_after > ONSET_RATIO * e_before {
            return;
        }
        let around = n.saturating_sub(2).max(chan.x_origin)..(n + 3).min(received);
        let values = around.map(|i| chan.x[(i - chan.x_origin) as usize]);
        let (hi_x, lo_x) = values.fold((f32::MIN, f32::MAX), |(h, l), v| (h.max(v), l.min(v)));
        if self.candidates.len() < MAX_CLICK_CANDIDATES {
            self.candidates.push((n, hi_x, lo_x));
        }
    }

    /// The clicks, merged over channels; candidates touching a clipping rail
    /// (`(high, low)`) dropped.
    fn finish(mut self, rails: Option<(f32, f32)>) -> Option<Clicks> {
        for c in 0..self.chans.len() {
            self.advance(c, true);
        }
        let mut times: Vec<u64> = self
            .candidates
            .iter()
            .filter(|(_, hi, lo)| {
                rails.is_none_or(|(h, l)| *hi < NEAR_RAIL * h && *lo > NEAR_RAIL * l)
            })
            .map(|c| c.0)
            .collect();
        times.sort_unstable();
        let merge = (CLICK_MERGE_S * self.rate) as u64;
        let mut clicks: Vec<u64> = Vec::new();
        for t in times {
            if clicks.last().is_none_or(|&l| t > l + merge) {
                clicks.push(t);
            }
        }
        (!clicks.is_empty()).then(|| Clicks {
            count: clicks.len(),
            times_s: clicks
                .iter()
                .take(MAX_TIMES)
                .map(|&t| t as f64 / self.rate)
                .collect(),
        })
    }
}

/// Second-difference residual at absolute sample `n` (samples before the start read as
/// the first one, so a track that starts off zero is not a click).
fn residual(chan: &ClickChannel, n: u64) -> f32 {
    let at = |i: u64| chan.x[(i.max(chan.x_origin) - chan.x_origin) as usize];
    let (a, b, c) = (at(n), at(n.saturating_sub(1)), at(n.saturating_sub(2)));
    a - 2.0 * b + c
}

/// Runs of samples at the highest value seen so far (one polarity; the other is fed
/// negated). When a new maximum appears the runs counted so far were not at the rail
/// after all and are forgotten, so one pass finds the runs at the file's final extreme.
/// Equality is exact: a clipper writes the same value every time (also after conversion
/// to integer samples), while a waveform crest near but under the rail differs in its
/// last bits.
struct RailRuns {
    rail: f32,
    /// Per channel: start frame and length of the run in progress.
    current: Vec<(u64, usize)>,
    runs: usize,
    samples: u64,
    longest: usize,
    starts: Vec<u64>,
}

impl RailRuns {
    fn new(channels: usize) -> RailRuns {
        RailRuns {
            rail: 0.0,
            current: vec![(0, 0); channels],
            runs: 0,
            samples: 0,
            longest: 0,
            starts: Vec::new(),
        }
    }

    fn push(&mut self, c: usize, t: u64, x: f32) {
        if x > self.rail {
            self.rail = x;
            self.runs = 0;
            self.samples = 0;
            self.longest = 0;
            self.starts.clear();
            for (i, cur) in self.current.iter_mut().enumerate() {
                *cur = if i == c { (t, 1) } else { (0, 0) };
            }
            return;
        }
        if x == self.rail && x > 0.0 {
            let cur = &mut self.current[c];
            if cur.1 == 0 {
                cur.0 = t;
            }
            cur.1 += 1;
        } else {
            self.close(c);
        }
    }

    fn close(&mut self, c: usize) {
        let (start, len) = std::mem::take(&mut self.current[c]);
        if len >= CLIP_MIN_RUN {
            self.runs += 1;
            self.samples += len as u64;
            self.longest = self.longest.max(len);
            if self.starts.len() < MAX_TIMES {
                self.starts.push(start);
            }
        }
    }

    fn finish(&mut self) {
        for c in 0..self.current.len() {
            self.close(c);
        }
    }
}

/// Clipping from the runs at the positive and at the negative extreme. Each polarity has
/// its own rail, so a clipped track with a DC offset added afterwards still reads as
/// clipped on both sides.
/// `all` is the track's sample count over all channels.
fn clipping(high: &mut RailRuns, low: &mut RailRuns, rate: f64, all: u64) -> Option<Clipping> {
    high.finish();
    low.finish();
    let runs = high.runs + low.runs;
    if runs < CLIP_MIN_RUNS {
        return None;
    }
    let mut starts: Vec<u64> = high.starts.iter().chain(&low.starts).copied().collect();
    starts.sort_unstable();
    starts.truncate(MAX_TIMES);
    Some(Clipping {
        rail: high.rail.max(low.rail),
        runs,
        samples: high.samples + low.samples,
        longest_run: high.longest.max(low.longest),
        times_s: starts.iter().map(|&t| t as f64 / rate).collect(),
        share: (high.samples + low.samples) as f64 / all.max(1) as f64,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::f64::consts::PI;

    pub(crate) use crate::dsp::testsig::Rng;

    /// Mono "music": harmonic tones (a chord changing every 2 s), a 55 Hz bass note with
    /// its harmonics, kick and snare hits on a beat, and a quieter break (tones only, at
    /// −20 dB) over the last quarter, as songs have. Peaks around −6 dBFS.
    pub(crate) fn music(rate: u32, secs: f64, seed: u64) -> Vec<f32> {
        let n = (rate as f64 * secs) as usize;
        let r = rate as f64;
        let mut rng = Rng(seed);
        let mut out = vec![0.0f64; n];
        let chords = [
            [220.0, 277.2, 329.6],
            [196.0, 246.9, 293.7],
            [174.6, 220.0, 261.6],
        ];
        let break_at = (0.75 * n as f64) as usize;
        let break_s = break_at as f64 / r;
        // Raised-cosine ramp 0→1 over `len` s from `t0`: everything starts and stops
        // smoothly, as rendered instruments do (a hard cut is a click, and is found).
        let ramp = |t: f64, t0: f64, len: f64| {
            let u = ((t - t0) / len).clamp(0.0, 1.0);
            0.5 - 0.5 * (PI * u).cos()
        };
        let secs = n as f64 / r;
        for (i, o) in out.iter_mut().enumerate() {
            let t = i as f64 / r;
            let chord = chords[(t / 2.0) as usize % chords.len()];
            let in_chord = t % 2.0;
            let env = ramp(in_chord, 0.0, 0.02) * (1.0 - ramp(in_chord, 1.98, 0.02));
            let gain = 1.0 - 0.9 * ramp(t, break_s, 0.05);
            let mut v = 0.0;
            for f in chord {
                for h in 1..=4 {
                    v += 0.03 / h as f64 * (2.0 * PI * f * h as f64 * t).sin();
                }
            }
            v *= env * gain;
            // Bass: A1 (55 Hz) with harmonics at 110 and 165 Hz, until the break.
            let bass = 1.0 - ramp(t, break_s - 0.05, 0.05);
            v += bass
                * (0.12 * (2.0 * PI * 55.0 * t).sin()
                    + 0.05 * (2.0 * PI * 110.0 * t).sin()
                    + 0.02 * (2.0 * PI * 165.0 * t).sin());
            *o = v * ramp(t, 0.0, 0.02) * (1.0 - ramp(t, secs - 0.02, 0.02));
        }
        // Drums until the break: kick on beats (120 BPM), snare on off-beats; hits start
        // at once (the hardest case for a click detector) and fade out over 10 ms.
        let beat = (0.5 * r) as usize;
        let mut start = 0;
        let mut k = 0;
        while start + beat < break_at {
            let len = (0.25 * r) as usize;
            for j in 0..len.min(n - start) {
                let t = j as f64 / r;
                let env = (-t / 0.06).exp() * (1.0 - ramp(t, 0.24, 0.01));
                let v = if k % 2 == 0 {
                    // Kick: a sine falling from 120 to 50 Hz (phase integrated).
                    let phase = 2.0 * PI * (50.0 * t + 70.0 * 0.03 * (1.0 - (-t / 0.03).exp()));
                    0.4 * env * phase.sin()
                } else {
                    (0.125 * (-t / 0.04).exp() * rng.gauss()
                        + 0.1 * (2.0 * PI * 190.0 * t).sin() * (-t / 0.06).exp())
                        * (1.0 - ramp(t, 0.24, 0.01))
                };
                out[start + j] += v;
            }
            start += beat;
            k += 1;
        }
        out.iter().map(|&v| v as f32).collect()
    }

    pub(crate) fn run(signal: &[f32], channels: usize, rate: u32) -> Problems {
        let mut m = ProblemsMeter::new(channels, rate);
        for chunk in signal.chunks(4096 * channels) {
            m.push(chunk);
        }
        m.finish().unwrap()
    }

    #[test]
    fn clean_music_has_no_problems() {
        for rate in [44_100, 48_000] {
            let p = run(&music(rate, 12.0, 7), 1, rate);
            assert_eq!(p, Problems::default(), "{}", p.summary());
        }
    }

    #[test]
    fn dc_offset_is_measured_per_channel() {
        let rate = 48_000;
        let m = music(rate, 4.0, 3);
        let stereo: Vec<f32> = m.iter().flat_map(|&x| [x + 0.01, x - 0.004]).collect();
        let dc = run(&stereo, 2, rate).dc.expect("dc found");
        assert!((dc.per_channel[0] - 0.01).abs() < 5e-4, "{dc:?}");
        assert!((dc.per_channel[1] + 0.004).abs() < 5e-4, "{dc:?}");
        assert!((dc.level_db + 40.0).abs() < 0.5);
        // Under the threshold: nothing.
        let small: Vec<f32> = m.iter().map(|&x| x + 2e-4).collect();
        assert_eq!(run(&small, 1, rate).dc, None);
    }

    #[test]
    fn clipping_runs_are_counted() {
        let rate = 44_100;
        // A 100 Hz sine of amplitude 2 clipped at ±0.9: every half period one run.
        let n = rate as usize; // 1 s: 100 periods, 200 runs
        let x: Vec<f32> = (0..n)
            .map(|i| {
                let v = 2.0 * (2.0 * PI * 100.0 * i as f64 / rate as f64).sin();
                v.clamp(-0.9, 0.9) as f32
            })
            .collect();
        let c = run(&x, 1, rate).clipping.expect("clipping found");
        assert_eq!(c.rail, 0.9);
        assert!((199..=201).contains(&c.runs), "{c:?}");
        // Clipped where |sin| ≥ 0.45: 2·(π/2 − asin 0.45)/(2π) of each half period.
        let per_run = (0.5 - (0.45f64).asin() / PI) * rate as f64 / 100.0;
        assert!(
            (c.longest_run as f64 - per_run).abs() <= 2.0,
            "{c:?} vs {per_run}"
        );
        assert!((c.samples as f64 - per_run * c.runs as f64).abs() < 2.0 * c.runs as f64);
        assert!(
            (c.times_s[0] - 0.0011).abs() < 0.0005,
            "{:?}",
            &c.times_s[..2]
        );
        // With a DC offset added after clipping both rails still count.
        let shifted: Vec<f32> = x.iter().map(|&v| v + 0.02).collect();
        let c2 = run(&shifted, 1, rate).clipping.expect("clipping found");
        assert_eq!(c2.runs, c.runs);
        // The same sine unclipped is not clipping, nor is a single crest plateau.
        let clean: Vec<f32> = (0..n)
            .map(|i| (0.9 * (2.0 * PI * 100.0 * i as f64 / rate as f64).sin()) as f32)
            .collect();
        assert_eq!(run(&clean, 1, rate).clipping, None);
        let mut crest = music(rate, 2.0, 1);
        crest[1000..1004].fill(0.99);
        assert_eq!(run(&crest, 1, rate).clipping, None);
    }

    fn sine(rate: u32, secs: f64, freq: f64, rms_dbfs: f64) -> Vec<f32> {
        let a = 2f64.sqrt() * 10f64.powf(rms_dbfs / 20.0);
        (0..(rate as f64 * secs) as usize)
            .map(|i| (a * (2.0 * PI * freq * i as f64 / rate as f64 + 0.3).sin()) as f32)
            .collect()
    }

    /// Mains hum: fundamental at `dbfs` RMS, harmonics 2–5 at −4, −6, −12, −14 dB.
    fn hum(rate: u32, secs: f64, mains: f64, dbfs: f64) -> Vec<f32> {
        let mut h = sine(rate, secs, mains, dbfs);
        for (k, rel) in [(2.0, -4.0), (3.0, -6.0), (4.0, -12.0), (5.0, -14.0)] {
            for (a, b) in h.iter_mut().zip(sine(rate, secs, mains * k, dbfs + rel)) {
                *a += b;
            }
        }
        h
    }

    fn add(a: &[f32], b: &[f32]) -> Vec<f32> {
        a.iter().zip(b).map(|(x, y)| x + y).collect()
    }

    /// Music with a 3 s pause of digital silence in the middle (a song's rest).
    fn music_with_pause(rate: u32, seed: u64) -> Vec<f32> {
        let mut m = music(rate, 8.0, seed);
        m.extend(vec![0.0; 3 * rate as usize]);
        m.extend(music(rate, 6.0, seed + 1));
        m
    }

    fn white(rate: u32, secs: f64, rms_dbfs: f64, seed: u64) -> Vec<f32> {
        let mut rng = Rng(seed);
        let g = 10f64.powf(rms_dbfs / 20.0);
        (0..(rate as f64 * secs) as usize)
            .map(|_| (g * rng.gauss()) as f32)
            .collect()
    }

    #[test]
    fn hum_at_50_and_60_hz_alone_and_under_music() {
        for (rate, mains) in [
            (44_100, 50.0),
            (48_000, 60.0),
            (48_000, 50.0),
            (44_100, 60.0),
        ] {
            let alone = hum(rate, 10.0, mains, -60.0);
            let under = add(&music(rate, 20.0, 5), &hum(rate, 20.0, mains, -60.0));
            for (what, x) in [("alone", alone), ("under music", under)] {
                let h = run(&x, 1, rate)
                    .hum
                    .unwrap_or_else(|| panic!("{what} {mains}: none"));
                assert_eq!(h.mains_hz, mains, "{what}: {h:?}");
                let fundamental = &h.harmonics[0];
                assert!((fundamental.freq_hz - mains).abs() < 0.1, "{what}: {h:?}");
                assert!((fundamental.level_dbfs + 60.0).abs() < 1.0, "{what}: {h:?}");
                let sum: f64 = h
                    .harmonics
                    .iter()
                    .map(|l| 10f64.powf(l.level_dbfs / 10.0))
                    .sum();
                assert!((h.level_dbfs - 10.0 * sum.log10()).abs() < 1e-6);
                if what == "alone" {
                    // All five lines: −60 dB plus the harmonics' power.
                    assert_eq!(h.harmonics.len(), 5, "{h:?}");
                    let total: f64 = [0.0f64, -4.0, -6.0, -12.0, -14.0]
                        .iter()
                        .map(|d| 10f64.powf(d / 10.0))
                        .sum();
                    assert!(
                        (h.level_dbfs - (-60.0 + 10.0 * total.log10())).abs() < 0.5,
                        "{h:?}"
                    );
                } else {
                    // The music's own partials hide some harmonics; the low lines show.
                    assert!(h.harmonics.len() >= 2, "{what}: {h:?}");
                }
            }
        }
    }

    #[test]
    fn bass_notes_near_the_mains_are_not_hum() {
        let rate = 44_100;
        // Held notes through the whole file, also where it is quiet: 55/110 Hz, and G1
        // (49 Hz) with its harmonics at 98 and 147 Hz, 1–3 Hz from 50/100/150.
        for notes in [vec![55.0, 110.0], vec![49.0, 98.0, 147.0]] {
            let mut x = vec![0.0f32; 10 * rate as usize];
            for f in notes {
                x = add(&x, &sine(rate, 10.0, f, -20.0));
            }
            assert_eq!(run(&x, 1, rate).hum, None);
        }
    }

    #[test]
    fn noise_floor_is_measured_in_the_pauses() {
        for (rate, level) in [(44_100, -50.0), (48_000, -65.0), (44_100, -40.0)] {
            let m = music_with_pause(rate, 9);
            let x = add(&m, &white(rate, 17.0, level, 4));
            let n = run(&x, 1, rate).noise.expect("noise found");
            assert!((n.level_dbfs - level).abs() < 2.0, "{level}: {n:?}");
            // Measured in the pause (8–11 s), or in the music's quiet break before it
            // (6–8 s, tones at about −47 dBFS) where the noise is loud enough to rule.
            assert!(!n.quiet.is_empty());
            for q in &n.quiet {
                let limit = if level > -45.0 { 5.9 } else { 7.4 };
                assert!(q.start_s >= limit && q.end_s <= 11.1, "{level}: {q:?}");
            }
            assert!(n.snr_db > -level - 35.0 && n.snr_db < -level, "{n:?}");
        }
        // Hum in the pause is hum, not broadband noise.
        let rate = 48_000;
        let x = add(&music_with_pause(rate, 2), &hum(rate, 17.0, 50.0, -40.0));
        let p = run(&x, 1, rate);
        assert!(p.hum.is_some());
        assert_eq!(p.noise, None, "{p:?}");
        // Music with a silent pause: no floor; a floor under −80 dBFS: none.
        assert_eq!(run(&music_with_pause(rate, 3), 1, rate).noise, None);
        let x = add(&music_with_pause(rate, 3), &white(rate, 17.0, -90.0, 1));
        assert_eq!(run(&x, 1, rate).noise, None);
    }

    /// A hi-hat pattern: 8ths at 120 bpm of high-passed noise bursts (30 ms decay), every
    /// other one softer, a few left out, scaled to `rms_dbfs` over the whole pattern.
    fn hihat(rate: u32, secs: f64, rms_dbfs: f64, seed: u64) -> Vec<f32> {
        let mut rng = Rng(seed);
        let r = rate as f64;
        let n = (r * secs) as usize;
        let step = (0.25 * r) as usize;
        let mut x = vec![0.0f64; n];
        let mut prev = 0.0;
        for (hit, start) in (0..n).step_by(step).enumerate() {
            if rng.uniform() > 0.8 {
                continue;
            }
            let accent = if hit % 2 == 0 { 1.0 } else { 0.4 };
            for (i, v) in x[start..(start + step).min(n)].iter_mut().enumerate() {
                let w = rng.gauss();
                *v = accent * (w - prev) * (-(i as f64) / (0.03 * r)).exp();
                prev = w;
            }
        }
        let p = x.iter().map(|v| v * v).sum::<f64>() / n as f64;
        let g = 10f64.powf(rms_dbfs / 20.0) / p.sqrt();
        x.iter().map(|v| (v * g) as f32).collect()
    }

    #[test]
    fn hiss_under_a_hi_hat_pattern_is_found_and_a_clean_hi_hat_has_none() {
        let rate = 44_100;
        // The hiss as loud as the hats or louder (as on the benchmark's slow_burn): the
        // track's playing level is barely over the floor, but the floor holds between the
        // hits. Every 2 s frame holds hits, so the level read is the hiss plus the hats'
        // mean power: 1.2 dB high with the hats 5 dB under, 3 dB with them as loud.
        for (hat, hiss, off) in [(-55.0, -50.0, 1.2), (-50.0, -50.0, 3.0)] {
            let x = add(&hihat(rate, 20.0, hat, 3), &white(rate, 20.0, hiss, 8));
            let n = run(&x, 1, rate)
                .noise
                .unwrap_or_else(|| panic!("hat {hat}: no noise found"));
            assert!((n.level_dbfs - hiss - off).abs() < 0.5, "hat {hat}: {n:?}");
            assert!(n.floor_share >= STEADY_FLOOR_SHARE, "hat {hat}: {n:?}");
            assert!(!n.quiet.is_empty());
        }
        // The hats alone (at any level): nothing.
        for hat in [-55.0, -30.0] {
            let p = run(&hihat(rate, 20.0, hat, 3), 1, rate);
            assert_eq!(p.noise, None, "{}", p.summary());
        }
    }

    #[test]
    fn rumble_below_30_hz_is_found() {
        let rate = 44_100;
        // A song with a rest: the rumble goes on through it, the music's own sub band
        // does not.
        let m = music_with_pause(rate, 4);
        let x = add(&m, &sine(rate, 17.0, 12.0, -25.0));
        let r = run(&x, 1, rate).rumble.expect("rumble found");
        assert_eq!(r.below_hz, RUMBLE_HZ);
        assert!(r.level_db > -15.0 && r.level_db < 0.0, "{r:?}");
    }

    /// A plucked bass line: E1 and D1 (41.2 and 36.7 Hz, strong fundamentals with three
    /// harmonics), A1 and D2, a note every 0.5 s (each starting at once, decaying over
    /// 0.6 s), four bars played then two of rest, for `secs` s. RMS about −17 dBFS where
    /// it plays.
    fn bass_line(rate: u32, secs: f64) -> Vec<f32> {
        let r = rate as f64;
        let notes = [41.2, 41.2, 55.0, 36.7, 73.4, 55.0, 41.2, 36.7];
        (0..(r * secs) as usize)
            .map(|i| {
                let t = i as f64 / r;
                // 2 s bars: four played, two of rest.
                if (t / 2.0) as usize % 6 >= 4 {
                    return 0.0;
                }
                let k = (t / 0.5) as usize;
                let (f, u) = (notes[k % notes.len()], t - k as f64 * 0.5);
                let env = (-u / 0.6).exp() * (u / 0.004).min(1.0);
                let v: f64 = (1..=4)
                    .map(|h| 0.25 / h as f64 * (2.0 * PI * f * h as f64 * u).sin())
                    .sum();
                (env * v) as f32
            })
            .collect()
    }

    /// Pink noise (Kellet's three-pole filter on white noise) at `rms_dbfs`: a hiss whose
    /// spectrum runs on below 30 Hz.
    fn pink(rate: u32, secs: f64, rms_dbfs: f64, seed: u64) -> Vec<f32> {
        let mut rng = Rng(seed);
        let (mut b0, mut b1, mut b2) = (0.0, 0.0, 0.0);
        let x: Vec<f64> = (0..(rate as f64 * secs) as usize)
            .map(|_| {
                let w = rng.gauss();
                b0 = 0.99765 * b0 + w * 0.0990460;
                b1 = 0.96300 * b1 + w * 0.2965164;
                b2 = 0.57000 * b2 + w * 1.0526913;
                b0 + b1 + b2 + w * 0.1848
            })
            .collect();
        let g = 10f64.powf(rms_dbfs / 20.0)
            / (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt();
        x.iter().map(|v| (v * g) as f32).collect()
    }

    #[test]
    fn a_bass_at_41_hz_is_not_rumble_and_15_hz_under_it_is() {
        for rate in [44_100, 48_000] {
            let bass = bass_line(rate, 20.0);
            let p = run(&bass, 1, rate);
            assert_eq!(p.rumble, None, "{}", p.summary());
            // 15 Hz at −35 dBFS: about −18 dB under the bass's playing level.
            let r = run(&add(&bass, &sine(rate, 20.0, 15.0, -35.0)), 1, rate)
                .rumble
                .expect("rumble found");
            assert!((r.level_db + 17.7).abs() < 1.5, "{r:?}");
        }
    }

    #[test]
    fn sub_heavy_hits_are_the_instruments_own_not_rumble() {
        // An 808-style kick whose pitch falls from 60 to 22 Hz, on every beat for three
        // bars and silent in the fourth: half its energy is under 30 Hz, all of it comes
        // and goes with the hits.
        let rate = 44_100;
        let r = rate as f64;
        let x: Vec<f32> = (0..(16.0 * r) as usize)
            .map(|i| {
                let t = i as f64 / r;
                if (t / 2.0) as usize % 4 == 3 {
                    return 0.0;
                }
                let u = t % 0.5;
                let phase = 2.0 * PI * (22.0 * u + 38.0 * 0.04 * (1.0 - (-u / 0.04).exp()));
                (0.5 * (-u / 0.15).exp() * (u / 0.002).min(1.0) * phase.sin()) as f32
            })
            .collect();
        let p = run(&x, 1, rate);
        assert_eq!(p.rumble, None, "{}", p.summary());
        // The same hits over a 12 Hz rumble are found.
        let p = run(&add(&x, &sine(rate, 16.0, 12.0, -30.0)), 1, rate);
        assert!(p.rumble.is_some(), "{}", p.summary());
    }

    #[test]
    fn a_pink_hiss_reaching_below_30_hz_is_not_rumble() {
        // Hiss 9 dB under the bass: its part under 30 Hz is about −19 dB of the playing
        // level, but it continues the hiss's spectrum (the denoiser's business).
        let rate = 44_100;
        let x = add(&bass_line(rate, 20.0), &pink(rate, 20.0, -29.0, 5));
        let p = run(&x, 1, rate);
        assert_eq!(p.rumble, None, "{}", p.summary());
    }

    #[test]
    fn clicks_are_found_and_drums_are_not_clicks() {
        for rate in [44_100, 48_000] {
            let mut x = music(rate, 10.0, 11);
            // Between hits (a click inside a snare's noise is masked by it, to ears too).
            let planted = [0.731, 2.345, 4.1, 5.8, 8.9];
            for (i, &t) in planted.iter().enumerate() {
                let n = (t * rate as f64) as usize;
                // One- to three-sample impulses of either sign, 0.05–0.2 in size (the music is
                // about −20 dBFS RMS).
                let a = [0.2f32, -0.1, 0.05, -0.15, 0.1][i];
                for j in 0..=(i % 3) {
                    x[n + j] += a * [1.0, 0.7, 0.4][j];
                }
            }
            let c = run(&x, 1, rate).clicks.expect("clicks found");
            assert_eq!(c.count, planted.len(), "{c:?}");
            for (t, want) in c.times_s.iter().zip(planted) {
                assert!((t - want).abs() < 0.001, "{t} vs {want}");
            }
            // In stereo (the click in one channel only) the same.
            let stereo: Vec<f32> = x
                .iter()
                .zip(music(rate, 10.0, 11))
                .flat_map(|(&a, b)| [a, b])
                .collect();
            assert_eq!(
                run(&stereo, 2, rate).clicks.map(|c| c.count),
                Some(planted.len())
            );
        }
        // Hard-hit drums alone (instant attacks), and noise: no clicks.
        let rate = 44_100;
        let mut rng = Rng(5);
        let mut drums = vec![0.0f32; 4 * rate as usize];
        for (k, start) in (0..drums.len() - rate as usize / 4)
            .step_by(rate as usize / 8)
            .enumerate()
        {
            for j in 0..rate as usize / 4 {
                let t = j as f64 / rate as f64;
                // Instant attacks; a 10 ms fade at the end (a hard cut is a click).
                let fade = (0.5 + 0.5 * (PI * ((t - 0.24) / 0.01).clamp(0.0, 1.0)).cos()) as f32;
                drums[start + j] += fade
                    * if k % 2 == 0 {
                        (0.8 * (-t / 0.05).exp() * (2.0 * PI * 60.0 * t + PI / 2.0).sin()) as f32
                    } else {
                        (0.5 * (-t / 0.03).exp() * rng.gauss()) as f32
                    };
            }
        }
        assert_eq!(run(&drums, 1, rate).clicks, None);
        assert_eq!(run(&white(rate, 5.0, -30.0, 8), 1, rate).clicks, None);
    }

    #[test]
    fn bad_input_is_defined() {
        for ch in [1, 2] {
            assert_eq!(run(&[], ch, 44_100), Problems::default());
            assert_eq!(
                run(&vec![0.0; 44_100 * ch], ch, 44_100),
                Problems::default()
            );
            let short: Vec<f32> = music(44_100, 0.3, 2)
                .iter()
                .flat_map(|&x| std::iter::repeat_n(x, ch))
                .collect();
            assert_eq!(run(&short, ch, 44_100).clipping, None);
            let nan = vec![f32::NAN; 1000 * ch];
            let p = run(&nan, ch, 44_100);
            assert_eq!(p.dc, None);
        }
    }
}
