//! Band spectra of a track: long-term and short-time, in third-octave bands (IEC 61260-1
//! base-10 centres, 20 Hz–20 kHz) and 1-ERB bands (Glasberg & Moore 1990), the tonal-balance
//! figures derived from them (spectral centroid, tilt, low-frequency share) and, for a
//! stereo track, the image: side/mid and inter-channel correlation per band, left/right
//! balance and the loss when folded to mono.
//!
//! Method: two short-time Fourier transforms with periodic Hann windows run over the stream,
//! sharing one bounded input buffer (about one long window plus one block):
//! * **Short-time frames** ([`BandFrames`]): a window of about [`FRAME_WINDOW_S`] (100 ms)
//!   every [`FRAME_HOP_S`] (50 ms), third-octave band levels per frame. Short enough that a
//!   snare hit stands out of its frame (a 400 ms loudness block averages it away), long
//!   enough to resolve the bands above ~100 Hz; below that the window's ±20 Hz main lobe
//!   smears neighbouring bands into each other. Frame `k` is centred at `(k + 0.5)` hops,
//!   whatever the sample rate (hops are rounded per frame, not accumulated), so frames of
//!   tracks at different rates line up in time.
//! * **Long-term spectrum**: windows of about [`LONG_WINDOW_S`] (1 s, ±2 Hz main lobe, so
//!   the 20–63 Hz bands are resolved) with half overlap, power-averaged over the whole track
//!   (Welch's method) and normalised by its duration.
//!
//! FFT lengths are the smallest 2ᵃ3ᵇ5ᶜ at or above the window length, so the transform stays
//! fast at any rate. Bins are assigned to bands by the overlap of the bin's width with the
//! band, so band energies add up to the total energy.
//!
//! Levels are the mean square per channel (the mean over channels) in dB re digital full
//! scale: a full-scale sine reads −3.01 dB, white noise of RMS 0.1 reads −20 dB summed over
//! all bands. A level that is empty (silence, or a band above Nyquist) reads [`FLOOR_DB`].

use std::io;
use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};

use crate::dsp::hann;
use crate::io::spool::{Spool, SpoolWriter, StoreBlocks};

/// Time between short-time frames, seconds.
pub const FRAME_HOP_S: f64 = 0.05;
/// Nominal short-time window, seconds (the actual one is rounded up to a fast FFT length,
/// at most 4 % longer; [`BandFrames::window_s`] holds it).
pub const FRAME_WINDOW_S: f64 = 0.1;
/// Nominal long-term analysis window, seconds.
pub const LONG_WINDOW_S: f64 = 1.0;
/// Level reported for no energy at all, dB (below any 24-bit signal's noise).
pub const FLOOR_DB: f64 = -150.0;
/// Split frequency of the low-frequency share, Hz: the region kept mono in a mix.
pub const LOW_SPLIT_HZ: f64 = 120.0;
/// Number of third-octave bands, 20 Hz to 20 kHz.
pub const THIRD_OCTAVE_BANDS: usize = 31;
/// Nominal centre frequencies of the third-octave bands, Hz (IEC 61260-1 labels; the exact
/// centres are `1000 · 10^(x/10)`, see [`third_octave_band`]).
pub const THIRD_OCTAVE_NOMINAL_HZ: [f64; THIRD_OCTAVE_BANDS] = [
    20.0, 25.0, 31.5, 40.0, 50.0, 63.0, 80.0, 100.0, 125.0, 160.0, 200.0, 250.0, 315.0, 400.0,
    500.0, 630.0, 800.0, 1000.0, 1250.0, 1600.0, 2000.0, 2500.0, 3150.0, 4000.0, 5000.0, 6300.0,
    8000.0, 10000.0, 12500.0, 16000.0, 20000.0,
];
/// Number of 1-ERB-wide bands: ERB numbers 1 to 41 (centres 26 Hz to 18.7 kHz).
pub const ERB_BANDS: usize = 41;

/// Power corresponding to [`FLOOR_DB`].
const FLOOR_POWER: f64 = 1e-15;
/// Frequency range of the broadband figures (centroid, shares, stereo), Hz: what is heard.
const AUDIBLE_HZ: (f64, f64) = (20.0, 20_000.0);
/// Bands whose centres lie in this range enter the tilt regression, Hz.
const TILT_RANGE_HZ: (f64, f64) = (50.0, 16_000.0);
/// In the tilt regression, band levels are raised to at least this far below the loudest
/// band, so an empty band (a band-limited stem) does not dominate the slope.
const TILT_DEPTH_DB: f64 = 60.0;

/// A frequency band, Hz.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// Lower edge.
    pub low_hz: f64,
    /// Centre (geometric for third octaves, ERB-number centre for ERB bands).
    pub centre_hz: f64,
    /// Upper edge.
    pub high_hz: f64,
}

/// Third-octave band `i` (0 = 20 Hz … 30 = 20 kHz): exact base-10 centre `1000·10^((i−17)/10)`,
/// edges a twentieth of a decade either side (IEC 61260-1).
pub fn third_octave_band(i: usize) -> Band {
    let centre = 1000.0 * 10f64.powf((i as f64 - 17.0) / 10.0);
    let half = 10f64.powf(1.0 / 20.0);
    Band {
        low_hz: centre / half,
        centre_hz: centre,
        high_hz: centre * half,
    }
}

/// ERB number (Cams) of a frequency: `21.4·log10(1 + 0.00437·f)` (Glasberg & Moore 1990).
pub fn erb_number(freq_hz: f64) -> f64 {
    21.4 * (1.0 + 0.00437 * freq_hz).log10()
}

/// Frequency of an ERB number, Hz (inverse of [`erb_number`]).
pub fn erb_frequency(erb: f64) -> f64 {
    (10f64.powf(erb / 21.4) - 1.0) / 0.00437
}

/// ERB band `i`: one ERB wide, centred on ERB number `i + 1`.
pub fn erb_band(i: usize) -> Band {
    let n = i as f64 + 1.0;
    Band {
        low_hz: erb_frequency(n - 0.5),
        centre_hz: erb_frequency(n),
        high_hz: erb_frequency(n + 0.5),
    }
}

/// Short-time third-octave band levels of a track: what the masking and role stages read.
///
/// Frame `t`, band `b` is the level in dB (mean square per channel, floored at
/// [`FLOOR_DB`]). The frames are parked on disk in a [`Spool`] (one "channel" per band) and
/// read back in blocks, so memory does not grow with the song: 31 bands every 50 ms are
/// 0.15 MB per track-minute, 286 MB for 32 tracks × 60 minutes. Clones share the store.
///
/// Serialised as `{hop_s, window_s, bands, db}` with `db` frame-major.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(into = "BandFramesData", try_from = "BandFramesData")]
pub struct BandFrames {
    hop_s: f64,
    window_s: f64,
    bands: usize,
    /// `None` when there are no frames (or no bands).
    store: Option<Arc<Spool>>,
}

/// The serialised form of [`BandFrames`].
#[derive(Serialize, Deserialize)]
struct BandFramesData {
    hop_s: f64,
    window_s: f64,
    bands: usize,
    db: Vec<f32>,
}

impl From<BandFrames> for BandFramesData {
    fn from(f: BandFrames) -> Self {
        // serde's `into` cannot fail; an unreadable temporary file serialises as no frames.
        let db = f.to_vec().unwrap_or_default();
        BandFramesData {
            hop_s: f.hop_s,
            window_s: f.window_s,
            bands: f.bands,
            db,
        }
    }
}

impl TryFrom<BandFramesData> for BandFrames {
    type Error = io::Error;

    fn try_from(d: BandFramesData) -> io::Result<Self> {
        BandFrames::from_db(d.hop_s, d.window_s, d.bands, &d.db)
    }
}

impl PartialEq for BandFrames {
    /// Same grid and the same levels (read back from both stores); an unreadable store
    /// equals nothing.
    fn eq(&self, other: &Self) -> bool {
        self.hop_s == other.hop_s
            && self.window_s == other.window_s
            && self.bands == other.bands
            && self.frames() == other.frames()
            && matches!((self.to_vec(), other.to_vec()), (Ok(a), Ok(b)) if a == b)
    }
}

impl BandFrames {
    /// Frames of `bands` levels every `hop_s` from frame-major levels `db` (a trailing
    /// partial frame is dropped), stored on disk.
    pub fn from_db(hop_s: f64, window_s: f64, bands: usize, db: &[f32]) -> io::Result<Self> {
        let whole = db.len() / bands.max(1) * bands;
        let store = if whole > 0 {
            let mut w = SpoolWriter::new(bands)?;
            w.write(&db[..whole])?;
            Some(Arc::new(w.finish()?))
        } else {
            None
        };
        Ok(BandFrames {
            hop_s,
            window_s,
            bands,
            store,
        })
    }

    /// Frames from levels already written frame-major to `spool` (one channel per band):
    /// for stores built block by block, never whole in memory.
    pub fn from_spool(hop_s: f64, window_s: f64, spool: Spool) -> Self {
        BandFrames {
            hop_s,
            window_s,
            bands: spool.channels(),
            store: (spool.frames() > 0).then(|| Arc::new(spool)),
        }
    }

    /// Time between frames, seconds ([`FRAME_HOP_S`]); frame `t` is centred at `(t + 0.5)·hop_s`.
    pub fn hop_s(&self) -> f64 {
        self.hop_s
    }

    /// Actual analysis window, seconds.
    pub fn window_s(&self) -> f64 {
        self.window_s
    }

    /// Bands per frame ([`THIRD_OCTAVE_BANDS`]).
    pub fn bands(&self) -> usize {
        self.bands
    }

    /// Number of frames.
    pub fn frames(&self) -> usize {
        self.store.as_ref().map_or(0, |s| s.frames() as usize)
    }

    /// Iterates over the frames in blocks of at most `frames_per_block` frames (frame-major
    /// levels, a whole number of frames each).
    pub fn blocks(&self, frames_per_block: usize) -> StoreBlocks<'_> {
        StoreBlocks::of(self.store.as_deref(), frames_per_block)
    }

    /// All levels, frame-major: for short tracks and tests (a whole song's frames at once is
    /// what the store exists to avoid).
    pub fn to_vec(&self) -> io::Result<Vec<f32>> {
        let mut all = Vec::with_capacity(self.frames() * self.bands);
        let mut blocks = self.blocks(BAND_FRAME_BLOCK);
        while let Some(b) = blocks.next_block()? {
            all.extend_from_slice(b);
        }
        Ok(all)
    }
}

/// Frames per block when band frames are read back: 12.8 s, 32 kB of levels.
pub const BAND_FRAME_BLOCK: usize = 256;

/// The stereo image of a two-channel track. Ratios are `None` where their band holds no
/// signal; dB figures are clamped to ±150.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stereo {
    /// Correlation of left and right over 20 Hz–20 kHz (zero-lag, −1…+1): +1 mono, 0
    /// unrelated, −1 one channel inverted.
    pub correlation: Option<f64>,
    /// Left energy over right energy, dB (positive: leans left).
    pub balance_db: Option<f64>,
    /// Side energy over mid energy (mid = (L+R)/2, side = (L−R)/2), 20 Hz–20 kHz, dB.
    pub side_to_mid_db: Option<f64>,
    /// Side over mid below [`LOW_SPLIT_HZ`] (20–120 Hz), dB: a mix wants this low.
    pub low_side_to_mid_db: Option<f64>,
    /// Energy of the mono fold-down (L+R)/2 relative to the mean channel energy, dB:
    /// 0 for identical channels, −3 for unrelated ones, very negative for inverted ones.
    pub mono_loss_db: Option<f64>,
    /// Side over mid per third-octave band, dB.
    pub band_side_to_mid_db: Vec<Option<f64>>,
    /// Left/right correlation per third-octave band.
    pub band_correlation: Vec<Option<f64>>,
}

/// Spectral figures of one track.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Spectrum {
    /// Long-term level per third-octave band ([`THIRD_OCTAVE_NOMINAL_HZ`]), dB.
    pub third_octave_db: Vec<f64>,
    /// Long-term level per ERB band ([`erb_band`]), dB.
    pub erb_db: Vec<f64>,
    /// Power-weighted mean frequency over 20 Hz–20 kHz, Hz; `None` for silence.
    pub centroid_hz: Option<f64>,
    /// Slope of the third-octave band levels against log frequency (50 Hz–16 kHz,
    /// least squares), dB per octave: pink noise reads 0, white noise +3.
    pub tilt_db_per_octave: Option<f64>,
    /// Share (0…1) of the 20 Hz–20 kHz energy below [`LOW_SPLIT_HZ`].
    pub low_share: Option<f64>,
    /// The stereo image; `None` for a mono track.
    pub stereo: Option<Stereo>,
    /// Short-time third-octave band levels.
    pub frames: BandFrames,
}

/// The smallest `n ≥ x` whose prime factors are 2, 3 and 5: FFT lengths that stay fast.
pub(super) fn fast_len(x: usize) -> usize {
    let mut n = x.max(2);
    loop {
        let mut m = n;
        for p in [2, 3, 5] {
            while m.is_multiple_of(p) {
                m /= p;
            }
        }
        if m == 1 {
            return n;
        }
        n += 1;
    }
}

/// Streaming input shared by the two transforms: per-channel samples from absolute index
/// `origin` up to `received`. Samples before 0 and after the end read as silence.
pub(super) struct Framer {
    buf: Vec<Vec<f32>>,
    origin: i64,
    /// Samples received per channel.
    pub(super) received: i64,
}

impl Framer {
    /// An empty buffer for `channels` channels.
    pub(super) fn new(channels: usize) -> Framer {
        Framer {
            buf: vec![Vec::new(); channels],
            origin: 0,
            received: 0,
        }
    }

    pub(super) fn push(&mut self, block: &[f32]) {
        let ch = self.buf.len();
        for frame in block.chunks_exact(ch) {
            for (b, &s) in self.buf.iter_mut().zip(frame) {
                b.push(s);
            }
        }
        self.received += (block.len() / ch) as i64;
    }

    /// Copies `out.len()` samples of channel `c` starting at absolute index `start`.
    pub(super) fn copy(&self, start: i64, c: usize, out: &mut [f32]) {
        let buf = &self.buf[c];
        let from = start.max(self.origin).max(0);
        let to = (start + out.len() as i64).min(self.received);
        out.fill(0.0);
        if from < to {
            let o = (from - start) as usize;
            let b = (from - self.origin) as usize;
            let n = (to - from) as usize;
            out[o..o + n].copy_from_slice(&buf[b..b + n]);
        }
    }

    /// Forgets samples before `keep_from` (in chunks, so the copy is amortised).
    pub(super) fn release(&mut self, keep_from: i64, chunk: usize) {
        let drop = (keep_from - self.origin).clamp(0, self.received - self.origin) as usize;
        if drop >= chunk {
            for b in &mut self.buf {
                b.drain(..drop);
            }
            self.origin += drop as i64;
        }
    }
}

/// One windowed real FFT over all channels.
pub(super) struct Stft {
    pub(super) len: usize,
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
    input: Vec<f32>,
    scratch: Vec<Complex<f32>>,
    pub(super) spectra: Vec<Vec<Complex<f32>>>,
    /// 1 / (N · Σw²): turns |X|² into mean-square contributions.
    pub(super) norm: f64,
}

impl Stft {
    pub(super) fn new(len: usize, channels: usize, planner: &mut RealFftPlanner<f32>) -> Stft {
        let window: Vec<f32> = hann(len).iter().map(|&w| w as f32).collect();
        let sum_sq: f64 = window.iter().map(|&w| (w as f64).powi(2)).sum();
        let fft = planner.plan_fft_forward(len);
        Stft {
            len,
            input: fft.make_input_vec(),
            scratch: fft.make_scratch_vec(),
            spectra: (0..channels).map(|_| fft.make_output_vec()).collect(),
            fft,
            window,
            norm: 1.0 / (len as f64 * sum_sq),
        }
    }

    pub(super) fn bins(&self) -> usize {
        self.len / 2 + 1
    }

    /// Transforms the window starting at `start` of every channel into `spectra`.
    pub(super) fn analyse(&mut self, framer: &Framer, start: i64) {
        for c in 0..self.spectra.len() {
            framer.copy(start, c, &mut self.input);
            for (x, w) in self.input.iter_mut().zip(&self.window) {
                *x *= w;
            }
            self.fft
                .process_with_scratch(&mut self.input, &mut self.spectra[c], &mut self.scratch)
                .expect("buffer lengths come from the plan");
        }
    }

    /// One-sided weight of bin `k`: interior bins stand for their negative twin too.
    pub(super) fn side_weight(&self, k: usize) -> f64 {
        if k == 0 || (self.len.is_multiple_of(2) && k == self.len / 2) {
            1.0
        } else {
            2.0
        }
    }
}

/// Which FFT bins (and what fraction of each) make up each band.
struct BandMap {
    bands: Vec<(usize, Vec<f64>)>,
}

impl BandMap {
    fn new(bands: impl Iterator<Item = Band>, fft_len: usize, rate: f64) -> BandMap {
        let df = rate / fft_len as f64;
        let top = fft_len / 2;
        let bands = bands
            .map(|b| {
                // Bin k covers [(k − ½)·df, (k + ½)·df]; weight = overlap with the band.
                let first = ((b.low_hz / df - 0.5).floor().max(0.0) as usize).min(top + 1);
                let last = ((b.high_hz / df + 0.5).ceil().max(0.0) as usize).min(top);
                let weights = (first..=last.max(first))
                    .filter(|&k| k <= top)
                    .map(|k| {
                        let lo = (k as f64 - 0.5) * df;
                        let hi = (k as f64 + 0.5) * df;
                        ((hi.min(b.high_hz) - lo.max(b.low_hz)) / df).max(0.0)
                    })
                    .collect();
                (first, weights)
            })
            .collect();
        BandMap { bands }
    }

    fn apply(&self, power: &[f64], out: &mut [f64]) {
        for ((first, w), o) in self.bands.iter().zip(out.iter_mut()) {
            *o = w.iter().zip(&power[*first..]).map(|(w, p)| w * p).sum();
        }
    }

    fn len(&self) -> usize {
        self.bands.len()
    }
}

fn to_db(power: f64) -> f64 {
    if power > FLOOR_POWER {
        10.0 * power.log10()
    } else {
        FLOOR_DB
    }
}

/// Ratio in dB, clamped to ±150; `None` when both sides are empty.
fn ratio_db(num: f64, den: f64) -> Option<f64> {
    (num > FLOOR_POWER || den > FLOOR_POWER).then(|| {
        (10.0 * (num.max(FLOOR_POWER) / den.max(FLOOR_POWER)).log10()).clamp(FLOOR_DB, -FLOOR_DB)
    })
}

/// Streaming spectrum analyser: push interleaved blocks, then [`SpectrumMeter::finish`].
/// Memory is bounded: about one long window of input; the short-time frames go to disk.
pub struct SpectrumMeter {
    channels: usize,
    rate: f64,
    framer: Framer,
    short: Stft,
    short_bands: BandMap,
    next_frame: u64,
    /// Where the short-time frames go; the first write error is kept for `finish`.
    frames_out: io::Result<SpoolWriter>,
    power: Vec<f64>,
    band_power: Vec<f64>,
    long: Stft,
    next_long: u64,
    /// Whether the long-term spectrum is measured ([`SpectrumMeter::frames_only`]: not).
    long_term: bool,
    long_power: Vec<Vec<f64>>,
    long_cross: Vec<f64>,
}

impl SpectrumMeter {
    /// An analyser for `channels` (≥ 1) interleaved channels at `rate` Hz (> 0).
    pub fn new(channels: usize, rate: u32) -> SpectrumMeter {
        SpectrumMeter::build(channels, rate, true)
    }

    /// An analyser of the short-time frames alone ([`SpectrumMeter::finish_frames`]): without
    /// the long-term transform it holds a tenth of the memory, for measuring many tracks at
    /// once.
    pub fn frames_only(channels: usize, rate: u32) -> SpectrumMeter {
        SpectrumMeter::build(channels, rate, false)
    }

    fn build(channels: usize, rate: u32, long_term: bool) -> SpectrumMeter {
        let channels = channels.max(1);
        let rate_f = rate.max(1) as f64;
        let mut planner = RealFftPlanner::new();
        let short = Stft::new(
            fast_len((FRAME_WINDOW_S * rate_f).round() as usize),
            channels,
            &mut planner,
        );
        // Without the long-term spectrum the long transform is never run: the short size
        // keeps it small.
        let long_s = if long_term {
            LONG_WINDOW_S
        } else {
            FRAME_WINDOW_S
        };
        let long = Stft::new(
            fast_len((long_s * rate_f).round() as usize),
            channels,
            &mut planner,
        );
        let short_bands = BandMap::new(
            (0..THIRD_OCTAVE_BANDS).map(third_octave_band),
            short.len,
            rate_f,
        );
        SpectrumMeter {
            channels,
            rate: rate_f,
            framer: Framer::new(channels),
            power: vec![0.0; short.bins()],
            band_power: vec![0.0; THIRD_OCTAVE_BANDS],
            short_bands,
            next_frame: 0,
            frames_out: SpoolWriter::new(THIRD_OCTAVE_BANDS),
            long_power: vec![vec![0.0; long.bins()]; channels],
            long_cross: if channels == 2 {
                vec![0.0; long.bins()]
            } else {
                Vec::new()
            },
            next_long: 0,
            long_term,
            short,
            long,
        }
    }

    fn short_start(&self, k: u64) -> i64 {
        let centre = ((k as f64 + 0.5) * FRAME_HOP_S * self.rate).round() as i64;
        centre - (self.short.len / 2) as i64
    }

    fn long_hop(&self) -> i64 {
        (self.long.len / 2) as i64
    }

    fn long_start(&self, j: u64) -> i64 {
        (j as i64 - 1) * self.long_hop()
    }

    fn short_frame(&mut self) {
        let start = self.short_start(self.next_frame);
        self.short.analyse(&self.framer, start);
        self.power.fill(0.0);
        let scale = self.short.norm / self.channels as f64;
        for spectrum in &self.short.spectra {
            for (k, (p, x)) in self.power.iter_mut().zip(spectrum).enumerate() {
                *p += self.short.side_weight(k) * scale * x.norm_sqr() as f64;
            }
        }
        self.short_bands.apply(&self.power, &mut self.band_power);
        if let Ok(out) = &mut self.frames_out {
            let mut db = [0.0f32; THIRD_OCTAVE_BANDS];
            for (d, &p) in db.iter_mut().zip(&self.band_power) {
                *d = to_db(p) as f32;
            }
            if let Err(e) = out.write(&db) {
                self.frames_out = Err(e);
            }
        }
        self.next_frame += 1;
    }

    fn long_frame(&mut self) {
        let start = self.long_start(self.next_long);
        self.long.analyse(&self.framer, start);
        let norm = self.long.norm;
        for (acc, spectrum) in self.long_power.iter_mut().zip(&self.long.spectra) {
            for (k, (a, x)) in acc.iter_mut().zip(spectrum).enumerate() {
                *a += self.long.side_weight(k) * norm * x.norm_sqr() as f64;
            }
        }
        if self.channels == 2 {
            let (l, r) = (&self.long.spectra[0], &self.long.spectra[1]);
            for (k, (a, (x, y))) in self.long_cross.iter_mut().zip(l.iter().zip(r)).enumerate() {
                let cross = x.re as f64 * y.re as f64 + x.im as f64 * y.im as f64;
                *a += self.long.side_weight(k) * norm * cross;
            }
        }
        self.next_long += 1;
    }

    /// Adds interleaved frames (a whole number of frames).
    pub fn push(&mut self, block: &[f32]) {
        self.framer.push(block);
        let received = self.framer.received;
        while self.short_start(self.next_frame) + self.short.len as i64 <= received {
            self.short_frame();
        }
        if !self.long_term {
            self.framer
                .release(self.short_start(self.next_frame), self.short.len);
            return;
        }
        while self.long_start(self.next_long) + self.long.len as i64 <= received {
            self.long_frame();
        }
        let keep = self
            .short_start(self.next_frame)
            .min(self.long_start(self.next_long));
        self.framer.release(keep, self.long.len);
    }

    /// The short-time frames of everything pushed, the last completed with silence (the
    /// [`Spectrum::frames`] that [`SpectrumMeter::finish`] gives). Fails only when they could
    /// not be written to the temporary folder.
    pub fn finish_frames(mut self) -> io::Result<BandFrames> {
        self.complete_frames();
        let window_s = self.short.len as f64 / self.rate;
        Ok(BandFrames::from_spool(
            FRAME_HOP_S,
            window_s,
            self.frames_out?.finish()?,
        ))
    }

    /// Runs the short-time frames up to the end of the input.
    fn complete_frames(&mut self) {
        let total = self.framer.received;
        let frames = (total as f64 / (FRAME_HOP_S * self.rate)).ceil() as u64;
        while self.next_frame < frames {
            self.short_frame();
        }
    }

    /// The figures for everything pushed; the last frames are completed with silence. Fails
    /// only when the short-time frames could not be written to the temporary folder.
    pub fn finish(mut self) -> io::Result<Spectrum> {
        self.complete_frames();
        let total = self.framer.received;
        while self.long_start(self.next_long) < total {
            self.long_frame();
        }
        // Each sample carries on average Σw²/hop of window energy over the overlapping
        // frames, and the frame sums were divided by Σw² already.
        let scale = if total > 0 {
            self.long_hop() as f64 / total as f64
        } else {
            0.0
        };
        for p in self.long_power.iter_mut().flatten() {
            *p *= scale;
        }
        for c in &mut self.long_cross {
            *c *= scale;
        }
        let bins = self.long.bins();
        let mean: Vec<f64> = (0..bins)
            .map(|k| self.long_power.iter().map(|p| p[k]).sum::<f64>() / self.channels as f64)
            .collect();
        let long_len = self.long.len;
        let third = BandMap::new(
            (0..THIRD_OCTAVE_BANDS).map(third_octave_band),
            long_len,
            self.rate,
        );
        let erb = BandMap::new((0..ERB_BANDS).map(erb_band), long_len, self.rate);
        let mut third_power = vec![0.0; third.len()];
        third.apply(&mean, &mut third_power);
        let mut erb_power = vec![0.0; erb.len()];
        erb.apply(&mean, &mut erb_power);
        let third_octave_db: Vec<f64> = third_power.iter().map(|&p| to_db(p)).collect();

        let df = self.rate / long_len as f64;
        let freq = |k: usize| k as f64 * df;
        let audible = |k: &usize| (AUDIBLE_HZ.0..=AUDIBLE_HZ.1).contains(&freq(*k));
        let audible_sum = |v: &[f64]| -> f64 { (0..bins).filter(audible).map(|k| v[k]).sum() };
        let low_sum = |v: &[f64]| -> f64 {
            (0..bins)
                .filter(|&k| (AUDIBLE_HZ.0..LOW_SPLIT_HZ).contains(&freq(k)))
                .map(|k| v[k])
                .sum()
        };
        let total_power = audible_sum(&mean);
        let heard = total_power > FLOOR_POWER;
        let centroid_hz = heard.then(|| {
            (0..bins)
                .filter(audible)
                .map(|k| freq(k) * mean[k])
                .sum::<f64>()
                / total_power
        });
        let low_share = heard.then(|| low_sum(&mean) / total_power);
        let tilt_db_per_octave = tilt(&third_octave_db, self.rate);

        let stereo = (self.channels == 2).then(|| {
            let (l, r, x) = (&self.long_power[0], &self.long_power[1], &self.long_cross);
            let mut bl = vec![0.0; THIRD_OCTAVE_BANDS];
            let mut br = vec![0.0; THIRD_OCTAVE_BANDS];
            let mut bx = vec![0.0; THIRD_OCTAVE_BANDS];
            third.apply(l, &mut bl);
            third.apply(r, &mut br);
            third.apply(x, &mut bx);
            let (sl, sr, sx) = (audible_sum(l), audible_sum(r), audible_sum(x));
            let (ll, lr, lx) = (low_sum(l), low_sum(r), low_sum(x));
            Stereo {
                correlation: correlation(sl, sr, sx),
                balance_db: ratio_db(sl, sr),
                side_to_mid_db: side_to_mid(sl, sr, sx),
                low_side_to_mid_db: side_to_mid(ll, lr, lx),
                mono_loss_db: ratio_db((sl + sr + 2.0 * sx) / 4.0, (sl + sr) / 2.0),
                band_side_to_mid_db: (0..THIRD_OCTAVE_BANDS)
                    .map(|b| side_to_mid(bl[b], br[b], bx[b]))
                    .collect(),
                band_correlation: (0..THIRD_OCTAVE_BANDS)
                    .map(|b| correlation(bl[b], br[b], bx[b]))
                    .collect(),
            }
        });

        let frames = self.frames_out?.finish()?;
        Ok(Spectrum {
            third_octave_db,
            erb_db: erb_power.iter().map(|&p| to_db(p)).collect(),
            centroid_hz,
            tilt_db_per_octave,
            low_share,
            stereo,
            frames: BandFrames::from_spool(FRAME_HOP_S, self.short.len as f64 / self.rate, frames),
        })
    }
}

/// Zero-lag correlation from the channel energies and their cross term.
fn correlation(l: f64, r: f64, cross: f64) -> Option<f64> {
    (l > FLOOR_POWER && r > FLOOR_POWER).then(|| (cross / (l * r).sqrt()).clamp(-1.0, 1.0))
}

/// Side over mid energy, dB, from the channel energies and their cross term.
fn side_to_mid(l: f64, r: f64, cross: f64) -> Option<f64> {
    let mid = ((l + r + 2.0 * cross) / 4.0).max(0.0);
    let side = ((l + r - 2.0 * cross) / 4.0).max(0.0);
    ratio_db(side, mid)
}

/// Least-squares slope of band level against log2 frequency, over the bands of
/// [`TILT_RANGE_HZ`] lying wholly below Nyquist, dB/octave.
fn tilt(levels: &[f64], rate: f64) -> Option<f64> {
    let points: Vec<(f64, f64)> = levels
        .iter()
        .enumerate()
        .map(|(i, &l)| (third_octave_band(i), l))
        .filter(|(b, _)| {
            (TILT_RANGE_HZ.0..=TILT_RANGE_HZ.1).contains(&b.centre_hz) && b.high_hz < rate / 2.0
        })
        .map(|(b, l)| ((b.centre_hz / 1000.0).log2(), l))
        .collect();
    let loudest = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    if points.len() < 3 || loudest <= FLOOR_DB {
        return None;
    }
    let n = points.len() as f64;
    let ys: Vec<f64> = points
        .iter()
        .map(|p| p.1.max(loudest - TILT_DEPTH_DB))
        .collect();
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = ys.iter().sum::<f64>() / n;
    let sxy: f64 = points
        .iter()
        .zip(&ys)
        .map(|(p, y)| (p.0 - mx) * (y - my))
        .sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    Some(sxy / sxx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testsig::Rng;
    use std::f64::consts::PI;

    /// Uniform noise of RMS `rms`.
    fn uniform_noise(rng: &mut Rng, n: usize, rms: f64) -> Vec<f32> {
        (0..n)
            .map(|_| (rng.uniform() * rms * 3f64.sqrt()) as f32)
            .collect()
    }

    /// A sine with 10 ms raised-cosine fades, so its spectrum stays narrow (an abrupt
    /// start would splash energy over every band, as it does in real audio).
    fn sine(rate: u32, secs: f64, freq: f64, amp: f64) -> Vec<f32> {
        faded_sine(rate, secs, freq, amp, 0.01)
    }

    fn faded_sine(rate: u32, secs: f64, freq: f64, amp: f64, fade_s: f64) -> Vec<f32> {
        let n = (rate as f64 * secs) as usize;
        let fade = (rate as f64 * fade_s) as usize;
        (0..n)
            .map(|i| {
                let edge = i.min(n - 1 - i);
                let g = if edge < fade {
                    0.5 - 0.5 * (PI * edge as f64 / fade as f64).cos()
                } else {
                    1.0
                };
                (g * amp * (2.0 * PI * freq * i as f64 / rate as f64).sin()) as f32
            })
            .collect()
    }

    fn interleave(l: &[f32], r: &[f32]) -> Vec<f32> {
        l.iter().zip(r).flat_map(|(&a, &b)| [a, b]).collect()
    }

    fn analyse(signal: &[f32], channels: usize, rate: u32, block: usize) -> Spectrum {
        let mut m = SpectrumMeter::new(channels, rate);
        for chunk in signal.chunks(block * channels) {
            m.push(chunk);
        }
        m.finish().unwrap()
    }

    fn band_of(freq: f64) -> usize {
        (0..THIRD_OCTAVE_BANDS)
            .find(|&i| {
                let b = third_octave_band(i);
                (b.low_hz..b.high_hz).contains(&freq)
            })
            .unwrap()
    }

    #[test]
    fn band_tables_follow_the_standards() {
        for (i, nominal) in THIRD_OCTAVE_NOMINAL_HZ.iter().enumerate() {
            let b = third_octave_band(i);
            // Nominal labels are the exact centres rounded (IEC 61260-1 Annex E): within 3 %.
            assert!((b.centre_hz / nominal - 1.0).abs() < 0.03, "{i}: {b:?}");
            assert!((b.high_hz / b.low_hz - 10f64.powf(0.1)).abs() < 1e-12);
        }
        assert!((erb_frequency(erb_number(1234.5)) - 1234.5).abs() < 1e-9);
        // ERB of 1 kHz is 132.6 Hz (Glasberg & Moore): one ERB band there is that wide.
        let b = erb_band(erb_number(1000.0).round() as usize - 1);
        assert!((b.high_hz - b.low_hz - 132.6).abs() < 8.0, "{b:?}");
        assert!(erb_band(ERB_BANDS - 1).high_hz <= 20_000.0);
        assert!(erb_band(0).low_hz < 20.0);
        assert_eq!(fast_len(4410), 4500);
        assert_eq!(fast_len(4800), 4800);
    }

    #[test]
    fn a_sine_lands_in_its_band_at_its_level() {
        for rate in [8_000, 44_100, 48_000, 96_000] {
            let s = analyse(&sine(rate, 10.0, 1000.0, 0.1), 1, rate, 4097);
            let b = band_of(1000.0);
            // Mean square of a sine of amplitude 0.1: 0.005 → −23.01 dB.
            assert!(
                (s.third_octave_db[b] + 23.01).abs() < 0.05,
                "{rate}: {:?}",
                s.third_octave_db
            );
            for (i, &l) in s.third_octave_db.iter().enumerate() {
                if i + 1 < b || i > b + 1 {
                    assert!(l < -80.0, "{rate}: band {i} reads {l}");
                }
            }
            let e = erb_number(1000.0).round() as usize - 1;
            assert!((s.erb_db[e] + 23.01).abs() < 0.1, "{rate}: {:?}", s.erb_db);
            assert!((s.centroid_hz.unwrap() - 1000.0).abs() < 5.0);
            assert!(s.low_share.unwrap() < 1e-4);
            assert!(s.stereo.is_none());
            // Short-time frames read the same level away from the edges.
            assert_eq!(s.frames.frames(), 200);
            let f = s.frames.to_vec().unwrap();
            for t in 2..198 {
                assert!(
                    (f[t * THIRD_OCTAVE_BANDS + b] as f64 + 23.01).abs() < 0.1,
                    "{rate} frame {t}"
                );
            }
        }
    }

    #[test]
    fn low_bands_are_resolved_in_the_long_term_spectrum() {
        // A 40 Hz sine (faded over 0.5 s: a faster onset is itself broadband at this
        // resolution): the 1 s window keeps it out of the 31.5 and 50 Hz bands.
        let s = analyse(&faded_sine(48_000, 8.0, 40.0, 0.5, 0.5), 1, 48_000, 8192);
        let b = band_of(40.0);
        // Mean square: 0.5²/2 over 8 s less the fades (a raised-cosine fade keeps 3/8 of
        // its length's energy): 0.125 · (8 − 2 · 0.5 · 5/8) / 8.
        let want = 10.0 * (0.125f64 * (8.0 - 0.625) / 8.0).log10();
        assert!(
            (s.third_octave_db[b] - want).abs() < 0.05,
            "{} vs {want}",
            s.third_octave_db[b]
        );
        assert!(
            s.third_octave_db[b - 1] < s.third_octave_db[b] - 30.0,
            "{:?}",
            s.third_octave_db
        );
        assert!(s.third_octave_db[b + 1] < s.third_octave_db[b] - 30.0);
        assert!(s.low_share.unwrap() > 0.999);
    }

    #[test]
    fn noise_tilt_centroid_and_total_energy() {
        let rate = 48_000;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let white = uniform_noise(&mut rng, rate as usize * 20, 0.1);
        let s = analyse(&white, 1, rate, 1000);
        // White noise: equal power per Hz, so +3.01 dB per octave in band levels.
        let tilt = s.tilt_db_per_octave.unwrap();
        assert!((tilt - 3.01).abs() < 0.2, "white tilt {tilt}");
        // Centroid of a flat spectrum over 20 Hz–20 kHz is its middle.
        assert!((s.centroid_hz.unwrap() - 10_010.0).abs() < 150.0);
        // Bands 20 Hz–20 kHz cover (22.4 k − 17.8) / 24 k of the power of RMS 0.1.
        let sum: f64 = s.third_octave_db.iter().map(|l| 10f64.powf(l / 10.0)).sum();
        let expect = 0.01
            * (third_octave_band(30).high_hz.min(24_000.0) - third_octave_band(0).low_hz)
            / 24_000.0;
        assert!(
            (10.0 * (sum / expect).log10()).abs() < 0.1,
            "{sum} vs {expect}"
        );
        assert!((s.low_share.unwrap() - 100.0 / 19_980.0).abs() < 0.001);

        // Brown noise (integrated white, −6 dB/octave per Hz) reads about −3 dB/octave.
        let mut y = 0.0f64;
        let brown: Vec<f32> = white
            .iter()
            .map(|&x| {
                y = 0.999 * y + x as f64;
                (0.05 * y) as f32
            })
            .collect();
        let s = analyse(&brown, 1, rate, 1000);
        let tilt = s.tilt_db_per_octave.unwrap();
        // The discrete integrator is 1/ω² only well below Nyquist: it reads a little above −3.
        assert!((-3.0..-2.6).contains(&tilt), "brown tilt {tilt}");
        assert!(s.centroid_hz.unwrap() < 1000.0);
    }

    #[test]
    fn low_share_splits_at_120_hz() {
        let rate = 44_100;
        let low = sine(rate, 6.0, 60.0, 0.3);
        let high = sine(rate, 6.0, 2000.0, 0.3);
        let mix: Vec<f32> = low.iter().zip(&high).map(|(a, b)| a + b).collect();
        let s = analyse(&mix, 1, rate, 3000);
        assert!(
            (s.low_share.unwrap() - 0.5).abs() < 0.01,
            "{:?}",
            s.low_share
        );
        assert!((s.centroid_hz.unwrap() - 1030.0).abs() < 15.0);
    }

    #[test]
    fn the_frames_alone_are_the_frames_of_the_whole_analysis() {
        // Stereo noise, 7.3 s (a part frame at the end), in blocks of an odd size.
        let rate = 44_100;
        let n = rate as usize * 73 / 10;
        let mut rng = Rng(0x5eed);
        let (a, b) = (
            uniform_noise(&mut rng, n, 0.2),
            uniform_noise(&mut rng, n, 0.05),
        );
        let x = interleave(&a, &b);
        let mut whole = SpectrumMeter::new(2, rate);
        let mut alone = SpectrumMeter::frames_only(2, rate);
        for block in x.chunks(2 * 3001) {
            whole.push(block);
            alone.push(block);
        }
        let whole = whole.finish().unwrap().frames;
        let alone = alone.finish_frames().unwrap();
        assert_eq!(
            (alone.hop_s(), alone.window_s()),
            (whole.hop_s(), whole.window_s())
        );
        assert_eq!(alone.frames(), whole.frames());
        assert_eq!(alone.to_vec().unwrap(), whole.to_vec().unwrap());
    }

    #[test]
    fn stereo_image_figures() {
        let rate = 48_000;
        let n = rate as usize * 10;
        let mut rng = Rng(42);
        let a = uniform_noise(&mut rng, n, 0.1);
        let b = uniform_noise(&mut rng, n, 0.1);

        // Identical channels: mono.
        let s = analyse(&interleave(&a, &a), 2, rate, 4096);
        let st = s.stereo.unwrap();
        assert!((st.correlation.unwrap() - 1.0).abs() < 1e-9);
        assert!(st.balance_db.unwrap().abs() < 1e-9);
        assert!(st.side_to_mid_db.unwrap() < -100.0);
        assert!(st.mono_loss_db.unwrap().abs() < 1e-9);

        // Unrelated channels, right 6 dB down.
        let quiet: Vec<f32> = b.iter().map(|x| x * 0.5).collect();
        let st = analyse(&interleave(&a, &quiet), 2, rate, 4096)
            .stereo
            .unwrap();
        assert!(st.correlation.unwrap().abs() < 0.02, "{st:?}");
        assert!((st.balance_db.unwrap() - 6.02).abs() < 0.1, "{st:?}");
        // Side and mid of unrelated channels carry equal energy.
        let st = analyse(&interleave(&a, &b), 2, rate, 4096).stereo.unwrap();
        assert!(st.side_to_mid_db.unwrap().abs() < 0.1);
        assert!((st.mono_loss_db.unwrap() + 3.01).abs() < 0.1);

        // One channel inverted.
        let inv: Vec<f32> = a.iter().map(|x| -x).collect();
        let st = analyse(&interleave(&a, &inv), 2, rate, 4096)
            .stereo
            .unwrap();
        assert!((st.correlation.unwrap() + 1.0).abs() < 1e-9);
        assert!(st.mono_loss_db.unwrap() < -100.0);

        // Mid only at 100 Hz, side only at 5 kHz: the bands tell them apart.
        let m = sine(rate, 10.0, 100.0, 0.2);
        let sd = sine(rate, 10.0, 5000.0, 0.2);
        let l: Vec<f32> = m.iter().zip(&sd).map(|(x, y)| x + y).collect();
        let r: Vec<f32> = m.iter().zip(&sd).map(|(x, y)| x - y).collect();
        let st = analyse(&interleave(&l, &r), 2, rate, 4096).stereo.unwrap();
        assert!(
            st.band_side_to_mid_db[band_of(100.0)].unwrap() < -60.0,
            "{st:?}"
        );
        assert!(st.band_side_to_mid_db[band_of(5000.0)].unwrap() > 60.0);
        assert!(st.band_correlation[band_of(100.0)].unwrap() > 0.99);
        assert!(st.band_correlation[band_of(5000.0)].unwrap() < -0.99);
        assert!(st.low_side_to_mid_db.unwrap() < -60.0);
        assert!(st.side_to_mid_db.unwrap().abs() < 0.1);
    }

    #[test]
    fn frames_follow_time() {
        // A 1 kHz burst from 2.0 s to 3.0 s in 5 s of silence.
        let rate = 44_100;
        let mut x = vec![0.0f32; rate as usize * 5];
        let burst = sine(rate, 1.0, 1000.0, 0.1);
        x[rate as usize * 2..rate as usize * 3].copy_from_slice(&burst);
        let s = analyse(&x, 1, rate, 777);
        let f = &s.frames;
        assert_eq!(f.frames(), 100);
        assert_eq!(f.bands(), THIRD_OCTAVE_BANDS);
        assert!((f.hop_s() - 0.05).abs() < 1e-12 && (f.window_s() - 0.102).abs() < 0.001);
        let db = f.to_vec().unwrap();
        let b = band_of(1000.0);
        for t in 0..100 {
            let centre = (t as f64 + 0.5) * FRAME_HOP_S;
            let level = db[t * THIRD_OCTAVE_BANDS + b] as f64;
            if (2.06..2.94).contains(&centre) {
                assert!((level + 23.01).abs() < 0.2, "frame {t}: {level}");
            } else if !(1.9..3.1).contains(&centre) {
                assert_eq!(level, FLOOR_DB, "frame {t}");
            }
        }
    }

    #[test]
    fn block_size_does_not_change_the_result() {
        let rate = 48_000;
        let mut rng = Rng(7);
        let x = uniform_noise(&mut rng, rate as usize * 7 * 2 + 2 * 333, 0.2);
        let a = analyse(&x, 2, rate, 1);
        let b = analyse(&x, 2, rate, 100_000);
        let c = analyse(&x, 2, rate, 4097);
        assert_eq!(a, b);
        assert_eq!(a, c);
    }

    #[test]
    fn empty_silent_and_short_input_are_defined() {
        let s = analyse(&[], 2, 48_000, 1024);
        assert_eq!(s.frames.frames(), 0);
        assert!(s.third_octave_db.iter().all(|&l| l == FLOOR_DB));
        assert_eq!(s.centroid_hz, None);
        assert_eq!(s.tilt_db_per_octave, None);
        let st = s.stereo.unwrap();
        assert_eq!(st.correlation, None);
        assert_eq!(st.balance_db, None);

        let s = analyse(&vec![0.0; 96_000], 2, 48_000, 1024);
        assert_eq!(s.frames.frames(), 20);
        assert!(
            s.frames
                .to_vec()
                .unwrap()
                .iter()
                .all(|&l| l as f64 == FLOOR_DB)
        );
        assert_eq!(s.low_share, None);

        // 10 ms of a tone: one frame, finite figures.
        let s = analyse(&sine(48_000, 0.01, 1000.0, 0.5), 1, 48_000, 1024);
        assert_eq!(s.frames.frames(), 1);
        assert!(s.centroid_hz.unwrap().is_finite());
        assert!(s.third_octave_db.iter().all(|l| l.is_finite()));
    }

    /// Peak heap of the meter over `secs` of 48 kHz noise, generated block by block (the
    /// signal itself is never held).
    fn meter_peak(secs: usize) -> i64 {
        let rate = 48_000u32;
        let mut rng = Rng(11);
        let (frames, peak) = crate::test_heap::peak_of(|| {
            let mut m = SpectrumMeter::new(1, rate);
            for _ in 0..secs {
                m.push(&uniform_noise(&mut rng, rate as usize, 0.1));
            }
            m.finish().unwrap().frames
        });
        assert_eq!(frames.frames(), secs * 20);
        peak
    }

    #[test]
    fn band_frames_stay_out_of_memory() {
        let (short, long) = (meter_peak(20), meter_peak(180));
        // In memory the extra 160 s of frames would take 3 200 × 31 × 4 = 397 kB.
        assert!(
            long <= short + 16_384,
            "the band frames' memory grows with length: 20 s {short} B, 180 s {long} B"
        );
    }
}
