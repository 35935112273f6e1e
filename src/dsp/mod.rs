//! Sample-level building blocks. Nothing here knows about songs, roles or files.

pub mod automation;
pub mod biquad;
pub mod crossover;
pub mod declick;
pub mod declip;
pub mod delay;
pub mod denoise;
pub mod dither;
pub mod gate;
pub mod harmonics;
pub mod hum;
pub mod interpolate;
pub mod limiter;
pub mod meter;
pub mod oversample;
pub mod pan;
pub mod stereo;

#[cfg(test)]
pub(crate) mod testsig;

/// A sample-level processing block: the common interface of every DSP unit.
pub trait Processor {
    /// Clear all running state (delay lines, envelopes, filter memories) as if new.
    fn reset(&mut self);
    /// Set the sample rate in Hz; recomputes coefficients and resets state.
    fn set_sample_rate(&mut self, rate: f64);
    /// Process one block of interleaved frames in place.
    fn process(&mut self, block: &mut [f32]);
    /// Frames of delay this block adds (look-ahead, linear phase); the console compensates it.
    fn latency(&self) -> usize {
        0
    }
}

/// Periodic Hann window of `n` samples (the STFT's: overlapped at a quarter or half of
/// `n`, the copies sum to a constant).
pub fn hann(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos())
        .collect()
}

/// Decibels to linear amplitude.
#[inline]
pub fn db_to_gain(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

/// Linear amplitude to decibels (−∞ for 0).
#[inline]
pub fn gain_to_db(gain: f64) -> f64 {
    20.0 * gain.log10()
}
