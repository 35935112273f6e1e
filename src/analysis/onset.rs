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
//! Memory is bounded: one window of input plus one f32 per hop.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};

/// Target time between onset frames, seconds (the hop is rounded to whole samples).
pub const HOP_S: f64 = 0.01;
/// Minimum analysis window, seconds.
const WINDOW_S: f64 = 0.04;
/// Log compression strength: `ln(1 + γ·|X|)`; 1000 spans roughly 60 dB of range.
const GAMMA: f32 = 1000.0;
/// Band over which the flatness is measured.
const FLATNESS_HZ: (f64, f64) = (100.0, 10_000.0);
/// Below this frame power (about −120 dBFS) a frame says nothing about flatness.
const SILENT_POWER: f64 = 1e-12;

/// Onset strength of one track.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Onset {
    /// Time between values of [`Onset::flux`], seconds; value `t` is the window centred at
    /// `t · hop_s`.
    pub hop_s: f64,
    /// Spectral flux per hop (mean log-magnitude rise per bin, ≥ 0).
    pub flux: Vec<f32>,
    /// Power-weighted mean spectral flatness over 100 Hz–10 kHz, 0…1; `None` for silence.
    pub flatness: Option<f64>,
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
    flux: Vec<f32>,
    flat_weighted: f64,
    flat_weight: f64,
}

impl OnsetMeter {
    /// An analyser for `channels` (≥ 1) interleaved channels at `rate` Hz (> 0).
    pub fn new(channels: usize, rate: u32) -> OnsetMeter {
        let rate_f = rate.max(1) as f64;
        let len = ((WINDOW_S * rate_f).ceil() as usize)
            .next_power_of_two()
            .max(16);
        let hop = ((HOP_S * rate_f).round() as usize).max(1);
        let window: Vec<f32> = (0..len)
            .map(|n| {
                (0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / len as f64).cos()) as f32
            })
            .collect();
        let sum: f32 = window.iter().sum();
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(len);
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
            flux: Vec::new(),
            flat_weighted: 0.0,
            flat_weight: 0.0,
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
        }
        self.frames += 1;
    }

    /// The onset curve for everything pushed: one value per hop of input (the last windows
    /// are completed with silence).
    pub fn finish(mut self) -> Onset {
        let want = self.received.div_ceil(self.hop as u64);
        while self.frames < want {
            self.buf.extend(std::iter::repeat_n(0.0, self.window.len()));
            self.drain(want);
        }
        Onset {
            hop_s: self.hop as f64 / self.rate,
            flux: self.flux,
            flatness: (self.flat_weight > 0.0).then(|| self.flat_weighted / self.flat_weight),
        }
    }
}
