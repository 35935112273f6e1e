//! Onset strength: how much new energy appears in each ~10 ms hop, the curve that tempo
//! and the role guess read (a drum hit is a tall narrow spike, a pad a low flat line).
//!
//! Method: spectral flux (Bello et al. 2005, "A tutorial on onset detection in music
//! signals") on a short-time Fourier transform of the mono fold-down: periodic Hann
//! windows of ~40 ms (rounded up to a power of two: 2048 at 44.1/48 kHz, ±22 Hz bins) every
//! [`HOP_S`]. Magnitudes are log-compressed, `ln(1 + γ·|X|)` with |X| scaled so a
//! full-scale sine peaks at 1, which makes the flux follow relative (dB-like) changes and
//! keeps quiet hits visible next to loud ones; the flux of a hop is the mean over bins of
//! the half-wave rectified rise since the previous hop (only energy that appears counts).
//!
//! The same transform also yields the spectral flatness (geometric over arithmetic mean of
//! the power, 100 Hz–10 kHz): near 1 for noise (hi-hat, shaker), near 0 for tones.
//!
//! And the harmonicity (Boersma 1993): the highest peak of the frame's normalised
//! autocorrelation (the inverse transform of its power spectrum, divided by the window's
//! own autocorrelation) at lags for 65 Hz–1 kHz, power-weighted over frames: near 1 for one
//! clear pitch (a voice, a bass line, a horn), lower for chords and noise.
//!
//! Memory is bounded: one window of input; the flux goes to an on-disk [`Curve`] as it is
//! measured.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};

use crate::dsp::hann;
use crate::io::spool::{Curve, CurveWriter};

/// Target time between onset frames, seconds (the hop is rounded to whole samples).
pub const HOP_S: f64 = 0.01;
/// Minimum analysis window, seconds.
const WINDOW_S: f64 = 0.04;
/// Log compression strength: `ln(1 + γ·|X|)`; 1000 spans roughly 60 dB of range.
const GAMMA: f32 = 1000.0;
/// Band over which the flatness is measured.
const FLATNESS_HZ: (f64, f64) = (100.0, 10_000.0);
/// Highest pitch the harmonicity looks for, Hz.
const MAX_PITCH_HZ: f64 = 1000.0;
/// Below this frame power (about −120 dBFS) a frame says nothing about flatness.
const SILENT_POWER: f64 = 1e-12;

/// Onset strength of one track.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Onset {
    /// Time between values of [`Onset::flux`], seconds; value `t` is the window centred at
    /// `t · hop_s`.
    pub hop_s: f64,
    /// Spectral flux per hop (mean log-magnitude rise per bin, ≥ 0), on disk.
    pub flux: Curve,
    /// Power-weighted mean spectral flatness over 100 Hz–10 kHz, 0…1; `None` for silence.
    pub flatness: Option<f64>,
    /// Power-weighted mean harmonicity (peak normalised autocorrelation), 0…1; `None` for
    /// silence.
    #[serde(default)]
    pub harmonicity: Option<f64>,
}

/// Streaming onset analyser: push interleaved blocks, then [`OnsetMeter::finish`].
pub struct OnsetMeter {
    channels: usize,
    rate: f64,
    hop: usize,
    /// Mono input; `buf[0]` is the first sample of the next window.
    buf: Vec<f32>,
    /// Samples of real input received (the buffer starts with half a window of silence
    /// so that the first window is centred on sample 0).
    received: u64,
    frames: u64,
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
    input: Vec<f32>,
    scratch: Vec<Complex<f32>>,
    spectrum: Vec<Complex<f32>>,
    prev_log: Vec<f32>,
    /// |X| scale that reads 1 for a full-scale sine.
    mag_scale: f32,
    flat_bins: (usize, usize),
    flux: CurveWriter,
    flat_weighted: f64,
    flat_weight: f64,
    inverse: Arc<dyn ComplexToReal<f32>>,
    power: Vec<Complex<f32>>,
    autocorr: Vec<f32>,
    inverse_scratch: Vec<Complex<f32>>,
    /// The window's own autocorrelation over its value at lag 0, for lags `0..lags.1`.
    window_autocorr: Vec<f64>,
    /// Lags searched for a pitch: `lags.0..lags.1` samples.
    lags: (usize, usize),
    harm_weighted: f64,
}

impl OnsetMeter {
    /// An analyser for `channels` (≥ 1) interleaved channels at `rate` Hz (> 0).
    pub fn new(channels: usize, rate: u32) -> OnsetMeter {
        let rate_f = rate.max(1) as f64;
        let len = ((WINDOW_S * rate_f).ceil() as usize)
            .next_power_of_two()
            .max(16);
        let hop = ((HOP_S * rate_f).round() as usize).max(1);
        let window: Vec<f32> = hann(len).iter().map(|&w| w as f32).collect();
        let sum: f32 = window.iter().sum();
        let mut planner = RealFftPlanner::<f32>::new();
        let fft = planner.plan_fft_forward(len);
        let inverse = planner.plan_fft_inverse(len);
        // Beyond a third of the window the circular autocorrelation wraps onto itself.
        let lags = (((rate_f / MAX_PITCH_HZ).floor() as usize).max(1), len / 3);
        let w0: f64 = window.iter().map(|&w| (w as f64).powi(2)).sum();
        let window_autocorr: Vec<f64> = (0..lags.1)
            .map(|l| {
                window
                    .iter()
                    .zip(&window[l..])
                    .map(|(&a, &b)| a as f64 * b as f64)
                    .sum::<f64>()
                    / w0
            })
            .collect();
        let bin = |hz: f64| ((hz * len as f64 / rate_f).round() as usize).min(len / 2);
        OnsetMeter {
            channels: channels.max(1),
            rate: rate_f,
            hop,
            buf: vec![0.0; len / 2],
            received: 0,
            frames: 0,
            input: fft.make_input_vec(),
            scratch: fft.make_scratch_vec(),
            spectrum: fft.make_output_vec(),
            prev_log: vec![0.0; len / 2 + 1],
            mag_scale: 2.0 / sum,
            flat_bins: (bin(FLATNESS_HZ.0).max(1), bin(FLATNESS_HZ.1).max(2)),
            fft,
            window,
            flux: CurveWriter::new(),
            flat_weighted: 0.0,
            flat_weight: 0.0,
            power: inverse.make_input_vec(),
            autocorr: inverse.make_output_vec(),
            inverse_scratch: inverse.make_scratch_vec(),
            inverse,
            window_autocorr,
            lags,
            harm_weighted: 0.0,
        }
    }

    /// Adds interleaved frames (a whole number of frames).
    pub fn push(&mut self, block: &[f32]) {
        let scale = 1.0 / self.channels as f32;
        self.buf.extend(
            block
                .chunks_exact(self.channels)
                .map(|f| f.iter().sum::<f32>() * scale),
        );
        self.received += (block.len() / self.channels) as u64;
        self.drain(u64::MAX);
    }

    /// Analyses complete windows in the buffer until `frames` reaches `limit`, then drops
    /// the consumed input.
    fn drain(&mut self, limit: u64) {
        let len = self.window.len();
        let mut start = 0;
        while start + len <= self.buf.len() && self.frames < limit {
            self.frame(start);
            start += self.hop;
        }
        self.buf.drain(..start);
    }

    fn frame(&mut self, start: usize) {
        for ((x, s), w) in self
            .input
            .iter_mut()
            .zip(&self.buf[start..])
            .zip(&self.window)
        {
            *x = s * w;
        }
        self.fft
            .process_with_scratch(&mut self.input, &mut self.spectrum, &mut self.scratch)
            .expect("buffer lengths come from the plan");
        let mut rise = 0.0f64;
        for (prev, x) in self.prev_log.iter_mut().zip(&self.spectrum) {
            let log = (GAMMA * self.mag_scale * x.norm()).ln_1p();
            rise += (log - *prev).max(0.0) as f64;
            *prev = log;
        }
        self.flux.push((rise / self.prev_log.len() as f64) as f32);

        let (lo, hi) = self.flat_bins;
        let band = &self.spectrum[lo..hi.max(lo + 1).min(self.spectrum.len())];
        let power: Vec<f64> = band.iter().map(|x| x.norm_sqr() as f64).collect();
        let mean = power.iter().sum::<f64>() / power.len() as f64;
        let norm = (self.mag_scale as f64).powi(2);
        if mean * norm > SILENT_POWER {
            let log_mean =
                power.iter().map(|p| (p + mean * 1e-12).ln()).sum::<f64>() / power.len() as f64;
            self.flat_weighted += mean * (log_mean.exp() / mean).min(1.0);
            self.flat_weight += mean;
            self.harm_weighted += mean * self.harmonicity();
        }
        self.frames += 1;
    }

    /// Peak normalised autocorrelation of the frame in `spectrum`, 0…1.
    fn harmonicity(&mut self) -> f64 {
        for (p, x) in self.power.iter_mut().zip(&self.spectrum) {
            *p = Complex::new(x.norm_sqr(), 0.0);
        }
        // A real signal's power spectrum has real DC and Nyquist bins: exact zeros.
        self.power[0].im = 0.0;
        if let Some(last) = self.power.last_mut() {
            last.im = 0.0;
        }
        if self
            .inverse
            .process_with_scratch(
                &mut self.power,
                &mut self.autocorr,
                &mut self.inverse_scratch,
            )
            .is_err()
        {
            return 0.0;
        }
        let r0 = self.autocorr[0] as f64;
        if r0 <= 0.0 {
            return 0.0;
        }
        (self.lags.0..self.lags.1)
            .map(|l| self.autocorr[l] as f64 / r0 / self.window_autocorr[l])
            .fold(0.0f64, f64::max)
            .min(1.0)
    }

    /// The onset curve for everything pushed: one value per hop of input (the last windows
    /// are completed with silence). Fails when the curve could not be written to the
    /// temporary folder.
    pub fn finish(mut self) -> std::io::Result<Onset> {
        let want = self.received.div_ceil(self.hop as u64);
        while self.frames < want {
            self.buf.extend(std::iter::repeat_n(0.0, self.window.len()));
            self.drain(want);
        }
        Ok(Onset {
            hop_s: self.hop as f64 / self.rate,
            flux: self.flux.finish()?,
            flatness: (self.flat_weight > 0.0).then(|| self.flat_weighted / self.flat_weight),
            harmonicity: (self.flat_weight > 0.0).then(|| self.harm_weighted / self.flat_weight),
        })
    }
}
