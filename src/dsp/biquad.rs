//! Second-order IIR filters (RBJ Audio EQ Cookbook designs), multichannel.
//!
//! Transposed direct form II with f64 state: two state values per channel, and in f64 the
//! form's sensitivity to coefficient rounding is irrelevant even for low cut-offs at high
//! sample rates (a 20 Hz high-pass at 192 kHz). The magnitude response is computed from the
//! same coefficients the filter runs with, so what a report says is what the audio gets.

use std::f64::consts::{FRAC_1_SQRT_2, PI};

use crate::dsp::Processor;

/// Highest design frequency as a fraction of the sample rate. The cookbook formulas
/// degenerate at Nyquist; a design asked for above this (for instance after
/// [`set_sample_rate`](Processor::set_sample_rate) lowers the rate) is clamped here.
const MAX_FREQ_RATIO: f64 = 0.49;
/// Magnitudes are floored here (−300 dB) so an exact zero (the centre of a notch) is a
/// finite number in reports.
const MIN_POWER: f64 = 1e-30;
/// State values below this are flushed to zero, so silence after a signal does not decay
/// into subnormal numbers (very slow on common CPUs).
const STATE_FLUSH: f64 = 1e-200;

/// What a [`Biquad`] does. `q` is the quality factor (> 0): 1/√2 gives a Butterworth
/// low/high-pass and, for shelves, the steepest shelf without overshoot (cookbook S = 1).
/// Gains are in dB.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BiquadKind {
    /// 12 dB/octave low-pass; −3.01 dB at the cut-off when `q` = 1/√2.
    LowPass { q: f64 },
    /// 12 dB/octave high-pass; −3.01 dB at the cut-off when `q` = 1/√2.
    HighPass { q: f64 },
    /// Band-pass with 0 dB at the centre; bandwidth = centre / `q`.
    BandPass { q: f64 },
    /// Band-reject with a zero at the centre; bandwidth = centre / `q`.
    Notch { q: f64 },
    /// Bell: `gain_db` at the centre, 0 dB far from it.
    Peaking { gain_db: f64, q: f64 },
    /// All-pass: unity magnitude, phase −180° at the centre; `q` sets how fast it turns.
    AllPass { q: f64 },
    /// `gain_db` below the corner, 0 dB above; `gain_db / 2` at the corner.
    LowShelf { gain_db: f64, q: f64 },
    /// 0 dB below the corner, `gain_db` above; `gain_db / 2` at the corner.
    HighShelf { gain_db: f64, q: f64 },
}

impl BiquadKind {
    /// A Butterworth (maximally flat) low-pass.
    pub fn butterworth_low_pass() -> Self {
        Self::LowPass { q: FRAC_1_SQRT_2 }
    }

    /// A Butterworth (maximally flat) high-pass.
    pub fn butterworth_high_pass() -> Self {
        Self::HighPass { q: FRAC_1_SQRT_2 }
    }

    fn q(&self) -> f64 {
        match *self {
            Self::LowPass { q }
            | Self::HighPass { q }
            | Self::BandPass { q }
            | Self::Notch { q }
            | Self::AllPass { q }
            | Self::Peaking { q, .. }
            | Self::LowShelf { q, .. }
            | Self::HighShelf { q, .. } => q,
        }
    }

    fn gain_db(&self) -> Option<f64> {
        match *self {
            Self::Peaking { gain_db, .. }
            | Self::LowShelf { gain_db, .. }
            | Self::HighShelf { gain_db, .. } => Some(gain_db),
            _ => None,
        }
    }
}

/// Invalid filter settings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BiquadError {
    /// No channels to process.
    #[error("biquad needs at least 1 channel, got {0}")]
    NoChannels(usize),
    /// Sample rate not positive and finite.
    #[error("biquad sample rate must be positive and finite, got {0} Hz")]
    SampleRate(f64),
    /// Design frequency outside (0, 0.49·sample rate).
    #[error(
        "biquad frequency must be within (0, {max_hz}) Hz at this sample rate, got {freq_hz} Hz"
    )]
    Frequency {
        /// Requested frequency.
        freq_hz: f64,
        /// Highest valid frequency at the sample rate.
        max_hz: f64,
    },
    /// Quality factor not positive and finite.
    #[error("biquad Q must be positive and finite, got {0}")]
    Q(f64),
    /// Gain not within ±60 dB.
    #[error("biquad gain must be within ±60 dB, got {0} dB")]
    Gain(f64),
}

/// Normalised coefficients (a0 = 1): y = b0·x + b1·x₋₁ + b2·x₋₂ − a1·y₋₁ − a2·y₋₂.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BiquadCoefficients {
    /// Feed-forward gain of the current input.
    pub b0: f64,
    /// Feed-forward gain of the previous input.
    pub b1: f64,
    /// Feed-forward gain of the input two samples back.
    pub b2: f64,
    /// Feedback gain of the previous output (sign as in the cookbook's denominator).
    pub a1: f64,
    /// Feedback gain of the output two samples back.
    pub a2: f64,
}

impl BiquadCoefficients {
    /// RBJ cookbook design of `kind` at `freq_hz` for `sample_rate` (parameters already
    /// validated).
    fn design(kind: BiquadKind, freq_hz: f64, sample_rate: f64) -> Self {
        let w0 = 2.0 * PI * freq_hz / sample_rate;
        let (sin_w0, cos_w0) = w0.sin_cos();
        let alpha = sin_w0 / (2.0 * kind.q());
        let a = 10f64.powf(kind.gain_db().unwrap_or(0.0) / 40.0);
        let (b0, b1, b2, a0, a1, a2) = match kind {
            BiquadKind::LowPass { .. } => {
                let b1 = 1.0 - cos_w0;
                (
                    b1 / 2.0,
                    b1,
                    b1 / 2.0,
                    1.0 + alpha,
                    -2.0 * cos_w0,
                    1.0 - alpha,
                )
            }
            BiquadKind::HighPass { .. } => {
                let b1 = -(1.0 + cos_w0);
                (
                    -b1 / 2.0,
                    b1,
                    -b1 / 2.0,
                    1.0 + alpha,
                    -2.0 * cos_w0,
                    1.0 - alpha,
                )
            }
            BiquadKind::BandPass { .. } => {
                (alpha, 0.0, -alpha, 1.0 + alpha, -2.0 * cos_w0, 1.0 - alpha)
            }
            BiquadKind::Notch { .. } => (
                1.0,
                -2.0 * cos_w0,
                1.0,
                1.0 + alpha,
                -2.0 * cos_w0,
                1.0 - alpha,
            ),
            BiquadKind::AllPass { .. } => (
                1.0 - alpha,
                -2.0 * cos_w0,
                1.0 + alpha,
                1.0 + alpha,
                -2.0 * cos_w0,
                1.0 - alpha,
            ),
            BiquadKind::Peaking { .. } => (
                1.0 + alpha * a,
                -2.0 * cos_w0,
                1.0 - alpha * a,
                1.0 + alpha / a,
                -2.0 * cos_w0,
                1.0 - alpha / a,
            ),
            BiquadKind::LowShelf { .. } => {
                let k = 2.0 * a.sqrt() * alpha;
                (
                    a * ((a + 1.0) - (a - 1.0) * cos_w0 + k),
                    2.0 * a * ((a - 1.0) - (a + 1.0) * cos_w0),
                    a * ((a + 1.0) - (a - 1.0) * cos_w0 - k),
                    (a + 1.0) + (a - 1.0) * cos_w0 + k,
                    -2.0 * ((a - 1.0) + (a + 1.0) * cos_w0),
                    (a + 1.0) + (a - 1.0) * cos_w0 - k,
                )
            }
            BiquadKind::HighShelf { .. } => {
                let k = 2.0 * a.sqrt() * alpha;
                (
                    a * ((a + 1.0) + (a - 1.0) * cos_w0 + k),
                    -2.0 * a * ((a - 1.0) + (a + 1.0) * cos_w0),
                    a * ((a + 1.0) + (a - 1.0) * cos_w0 - k),
                    (a + 1.0) - (a - 1.0) * cos_w0 + k,
                    2.0 * ((a - 1.0) - (a + 1.0) * cos_w0),
                    (a + 1.0) - (a - 1.0) * cos_w0 - k,
                )
            }
        };
        Self {
            b0: b0 / a0,
            b1: b1 / a0,
            b2: b2 / a0,
            a1: a1 / a0,
            a2: a2 / a0,
        }
    }

    /// Magnitude response in dB at `freq_hz` for `sample_rate`, floored at −300 dB.
    pub fn magnitude_db(&self, freq_hz: f64, sample_rate: f64) -> f64 {
        // |H|² in terms of φ = sin²(ω/2) (cookbook): no cancellation at low frequencies,
        // where cos ω ≈ 1 would make the direct complex evaluation lose digits.
        let phi = (PI * freq_hz / sample_rate).sin().powi(2);
        let Self { b0, b1, b2, a1, a2 } = *self;
        let num = (b0 + b1 + b2).powi(2) - 4.0 * (b0 * b1 + 4.0 * b0 * b2 + b1 * b2) * phi
            + 16.0 * b0 * b2 * phi * phi;
        let den =
            (1.0 + a1 + a2).powi(2) - 4.0 * (a1 + 4.0 * a2 + a1 * a2) * phi + 16.0 * a2 * phi * phi;
        10.0 * (num.max(0.0) / den).max(MIN_POWER).log10()
    }
}

/// A multichannel biquad: the same filter on every channel of interleaved audio.
#[derive(Debug, Clone)]
pub struct Biquad {
    channels: usize,
    sample_rate: f64,
    kind: BiquadKind,
    /// Frequency as requested; the design uses it clamped to the current sample rate.
    freq_hz: f64,
    coeffs: BiquadCoefficients,
    /// Per channel the two TDF-II state values.
    state: Vec<[f64; 2]>,
}

impl Biquad {
    /// A filter of `kind` at `freq_hz` (cut-off, centre or corner) for `channels` interleaved
    /// channels at `sample_rate` Hz. The frequency must be below 0.49·`sample_rate`, Q
    /// positive and finite, gains within ±60 dB.
    pub fn new(
        channels: usize,
        sample_rate: f64,
        kind: BiquadKind,
        freq_hz: f64,
    ) -> Result<Self, BiquadError> {
        if channels == 0 {
            return Err(BiquadError::NoChannels(channels));
        }
        if !(sample_rate.is_finite() && sample_rate > 0.0) {
            return Err(BiquadError::SampleRate(sample_rate));
        }
        validate(kind, freq_hz, sample_rate)?;
        Ok(Self {
            channels,
            sample_rate,
            kind,
            freq_hz,
            coeffs: BiquadCoefficients::design(kind, freq_hz, sample_rate),
            state: vec![[0.0; 2]; channels],
        })
    }

    /// Change the design, keeping the running state (the change is not smoothed: expect a
    /// click on large jumps). On error the filter is unchanged.
    pub fn set_design(&mut self, kind: BiquadKind, freq_hz: f64) -> Result<(), BiquadError> {
        validate(kind, freq_hz, self.sample_rate)?;
        self.kind = kind;
        self.freq_hz = freq_hz;
        self.coeffs = BiquadCoefficients::design(kind, freq_hz, self.sample_rate);
        Ok(())
    }

    /// The filter type and its parameters.
    pub fn kind(&self) -> BiquadKind {
        self.kind
    }

    /// The design frequency in effect (Hz): as requested, or 0.49·sample rate if the
    /// sample rate was later lowered below what the request allows.
    pub fn freq_hz(&self) -> f64 {
        effective_freq(self.freq_hz, self.sample_rate)
    }

    /// Current sample rate in Hz.
    pub fn sample_rate(&self) -> f64 {
        self.sample_rate
    }

    /// The coefficients the filter runs with.
    pub fn coefficients(&self) -> BiquadCoefficients {
        self.coeffs
    }

    /// Magnitude response in dB at `freq_hz`, from the running coefficients (floored at
    /// −300 dB, so the centre of a notch is finite).
    pub fn magnitude_db(&self, freq_hz: f64) -> f64 {
        self.coeffs.magnitude_db(freq_hz, self.sample_rate)
    }
}

impl Processor for Biquad {
    fn reset(&mut self) {
        self.state.fill([0.0; 2]);
    }

    /// Recomputes the coefficients for the new rate (a design frequency above 0.49·rate is
    /// clamped there) and resets the state. Rates that are not positive and finite are
    /// ignored.
    fn set_sample_rate(&mut self, rate: f64) {
        if rate.is_finite() && rate > 0.0 {
            self.sample_rate = rate;
            self.coeffs = BiquadCoefficients::design(self.kind, self.freq_hz(), rate);
            self.reset();
        }
    }

    /// Filters every whole frame; a trailing partial frame is left untouched. Non-finite
    /// input samples are treated as silence and outputs are clamped to the f32 range, so
    /// neither NaN nor ±Inf ever leaves (or enters the state of) the filter.
    fn process(&mut self, block: &mut [f32]) {
        let BiquadCoefficients { b0, b1, b2, a1, a2 } = self.coeffs;
        for frame in block.chunks_exact_mut(self.channels) {
            for (sample, s) in frame.iter_mut().zip(self.state.iter_mut()) {
                let x = if sample.is_finite() {
                    f64::from(*sample)
                } else {
                    0.0
                };
                let y = b0 * x + s[0];
                s[0] = b1 * x - a1 * y + s[1];
                s[1] = b2 * x - a2 * y;
                for v in s.iter_mut() {
                    if v.abs() < STATE_FLUSH {
                        *v = 0.0;
                    }
                }
                let max = f64::from(f32::MAX);
                *sample = y.clamp(-max, max) as f32;
            }
        }
    }
}

fn effective_freq(freq_hz: f64, sample_rate: f64) -> f64 {
    freq_hz.min(MAX_FREQ_RATIO * sample_rate)
}

fn validate(kind: BiquadKind, freq_hz: f64, sample_rate: f64) -> Result<(), BiquadError> {
    let max_hz = MAX_FREQ_RATIO * sample_rate;
    if !(freq_hz > 0.0 && freq_hz <= max_hz) {
        return Err(BiquadError::Frequency { freq_hz, max_hz });
    }
    let q = kind.q();
    if !(q.is_finite() && q > 0.0) {
        return Err(BiquadError::Q(q));
    }
    if let Some(g) = kind.gain_db()
        && !(-60.0..=60.0).contains(&g)
    {
        return Err(BiquadError::Gain(g));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testsig::{Rng, sine_fit};

    const RATES: [f64; 7] = [
        8_000.0, 22_050.0, 44_100.0, 48_000.0, 88_200.0, 96_000.0, 192_000.0,
    ];

    fn random_kind(rng: &mut Rng, which: usize, q_lo: f64, q_hi: f64) -> BiquadKind {
        let q = rng.log_uniform(q_lo, q_hi);
        let gain_db = -24.0 + 48.0 * rng.unit();
        match which % 8 {
            7 => BiquadKind::AllPass { q },
            0 => BiquadKind::LowPass { q },
            1 => BiquadKind::HighPass { q },
            2 => BiquadKind::BandPass { q },
            3 => BiquadKind::Notch { q },
            4 => BiquadKind::Peaking { gain_db, q },
            5 => BiquadKind::LowShelf { gain_db, q },
            _ => BiquadKind::HighShelf { gain_db, q },
        }
    }

    /// Largest pole radius of the filter (how slowly its transients die).
    fn pole_radius(c: &BiquadCoefficients) -> f64 {
        let disc = c.a1 * c.a1 - 4.0 * c.a2;
        if disc < 0.0 {
            c.a2.sqrt()
        } else {
            let s = disc.sqrt();
            ((-c.a1 + s) / 2.0).abs().max(((-c.a1 - s) / 2.0).abs())
        }
    }

    /// Steady-state gain (dB) of `filter` for a sine at `freq_hz`, measured by running the
    /// sine through it (block-wise, as f32 audio) until transients have died and fitting
    /// a sinusoid of that frequency to the output by least squares.
    fn measured_db(filter: &mut Biquad, freq_hz: f64) -> f64 {
        filter.reset();
        let fs = filter.sample_rate();
        let r = pole_radius(&filter.coefficients());
        let settle = if r < 1e-9 {
            0
        } else {
            ((1e-9f64).ln() / r.ln()).ceil() as usize
        };
        let window = ((4.0 * fs / freq_hz) as usize).max(2048);
        let total = settle + window;
        let w = 2.0 * PI * freq_hz / fs;
        let mut buf: Vec<f32> = (0..total).map(|n| (w * n as f64).sin() as f32).collect();
        for block in buf.chunks_mut(1000) {
            filter.process(block);
        }
        let (p, q) = sine_fit(&buf, w, settle..total);
        10.0 * (p * p + q * q).max(MIN_POWER).log10()
    }

    #[test]
    fn measured_sine_response_matches_magnitude_db() {
        let mut rng = Rng(0xb1_9a0d);
        let mut worst = 0.0f64;
        let mut checked = 0;
        for &fs in &RATES {
            for which in 0..8 {
                let kind = random_kind(&mut rng, which, 0.3, 8.0);
                let f0 = rng.log_uniform(40.0f64.min(0.01 * fs), 0.45 * fs);
                let mut filter = Biquad::new(1, fs, kind, f0).unwrap();
                let mut grid: Vec<f64> = (0..10)
                    .map(|i| 30.0 * (0.47 * fs / 30.0).powf(i as f64 / 9.0))
                    .collect();
                grid.push(f0);
                for f in grid {
                    let predicted = filter.magnitude_db(f);
                    let measured = measured_db(&mut filter, f);
                    // Deep in a stop band the f32 audio path sets a floor (≈ −130 dB);
                    // compare linear amplitudes there, dB everywhere else.
                    let ok = if predicted > -60.0 {
                        let err = (measured - predicted).abs();
                        worst = worst.max(err);
                        err < 0.05
                    } else {
                        (10f64.powf(measured / 20.0) - 10f64.powf(predicted / 20.0)).abs() < 1e-3
                    };
                    assert!(
                        ok,
                        "{kind:?} at {f0:.1} Hz, fs {fs}: at {f:.1} Hz measured {measured:.4} dB, \
                         predicted {predicted:.4} dB"
                    );
                    checked += 1;
                }
            }
        }
        println!("{checked} points, worst |measured − magnitude_db| = {worst:.2e} dB");
    }

    #[test]
    fn designs_hit_their_defining_points() {
        for &fs in &RATES {
            // Cut-offs from 20 Hz (a rumble filter at 192 kHz is the hard case) up.
            for f0 in [20.0, 1000.0, 0.3 * fs] {
                let mut hp = Biquad::new(1, fs, BiquadKind::butterworth_high_pass(), f0).unwrap();
                let mut lp = Biquad::new(1, fs, BiquadKind::butterworth_low_pass(), f0).unwrap();
                for filter in [&mut hp, &mut lp] {
                    let predicted = filter.magnitude_db(f0);
                    assert!(
                        (predicted + 3.0103).abs() < 0.001,
                        "{f0} Hz @ {fs}: {predicted}"
                    );
                    let measured = measured_db(filter, f0);
                    assert!(
                        (measured + 3.0103).abs() < 0.05,
                        "{f0} Hz @ {fs}: {measured}"
                    );
                }
                // Pass bands: HP flat near Nyquist, LP flat at DC.
                assert!(hp.magnitude_db(0.49 * fs).abs() < 0.1 || f0 > 0.1 * fs);
                assert!(lp.magnitude_db(1e-3).abs() < 1e-6);
            }
            let f0 = 0.1 * fs;
            let mut notch = Biquad::new(1, fs, BiquadKind::Notch { q: 4.0 }, f0).unwrap();
            let depth = measured_db(&mut notch, f0);
            println!("{fs} Hz: notch depth at centre {depth:.1} dB (measured)");
            assert!(depth < -40.0, "notch depth at {fs}: {depth} dB");
            assert!(notch.magnitude_db(f0) < -100.0);
            assert!(notch.magnitude_db(f0 / 4.0).abs() < 0.1);

            let mut bp = Biquad::new(1, fs, BiquadKind::BandPass { q: 2.0 }, f0).unwrap();
            assert!(bp.magnitude_db(f0).abs() < 1e-9);
            assert!(measured_db(&mut bp, f0).abs() < 0.05);
            // Bandwidth: the −3 dB points are centre/Q apart, geometrically centred (exact
            // for the analog prototype; checked where frequency warping is negligible).
            let fc = 0.005 * fs;
            let narrow = Biquad::new(1, fs, BiquadKind::BandPass { q: 2.0 }, fc).unwrap();
            let half = fc / 2.0 / 2.0;
            let lo = -half + (half * half + fc * fc).sqrt();
            for edge in [lo, lo + fc / 2.0] {
                let db = narrow.magnitude_db(edge);
                assert!((db + 3.0103).abs() < 0.01, "{fs}: {edge} Hz: {db}");
            }

            for gain_db in [-12.0, 6.0] {
                let peak = Biquad::new(1, fs, BiquadKind::Peaking { gain_db, q: 1.0 }, f0).unwrap();
                assert!((peak.magnitude_db(f0) - gain_db).abs() < 1e-9);
                let low = BiquadKind::LowShelf {
                    gain_db,
                    q: FRAC_1_SQRT_2,
                };
                let mut low = Biquad::new(1, fs, low, f0).unwrap();
                assert!((low.magnitude_db(f0) - gain_db / 2.0).abs() < 1e-9);
                assert!((low.magnitude_db(1e-3) - gain_db).abs() < 1e-6);
                assert!(low.magnitude_db(fs / 2.0).abs() < 1e-6);
                assert!((measured_db(&mut low, 20.0) - gain_db).abs() < 0.05);
                let high = BiquadKind::HighShelf {
                    gain_db,
                    q: FRAC_1_SQRT_2,
                };
                let high = Biquad::new(1, fs, high, f0).unwrap();
                assert!((high.magnitude_db(f0) - gain_db / 2.0).abs() < 1e-9);
                assert!((high.magnitude_db(fs / 2.0) - gain_db).abs() < 1e-6);
                assert!(high.magnitude_db(1e-3).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn random_valid_designs_are_stable() {
        let mut rng = Rng(0x57ab1e);
        for i in 0..800 {
            let fs = RATES[i % RATES.len()];
            let kind = random_kind(&mut rng, i, 0.05, 50.0);
            let f0 = rng.log_uniform(1.0, MAX_FREQ_RATIO * fs);
            let mut filter = Biquad::new(2, fs, kind, f0).unwrap();
            let c = filter.coefficients();
            // Both poles strictly inside the unit circle (the stability triangle).
            assert!(
                c.a2.abs() < 1.0 && c.a1.abs() < 1.0 + c.a2,
                "{kind:?} {f0} Hz @ {fs}: {c:?}"
            );
            // Full-scale noise stays bounded by the worst-case gain sum |h| (here: finite
            // and below +80 dBFS), then silence decays to exactly zero state.
            let mut noise: Vec<f32> = (0..4000).map(|_| rng.uniform() as f32).collect();
            filter.process(&mut noise);
            assert!(
                noise.iter().all(|x| x.is_finite() && x.abs() < 1e4),
                "{kind:?} {f0} @ {fs}"
            );
        }
    }

    #[test]
    fn channels_are_independent_and_blocks_do_not_matter() {
        let mut rng = Rng(0xc4a7);
        let kind = BiquadKind::Peaking {
            gain_db: 9.0,
            q: 3.0,
        };
        let frames = 5000;
        let left: Vec<f32> = (0..frames).map(|_| rng.uniform() as f32).collect();
        let right: Vec<f32> = (0..frames).map(|_| (0.3 * rng.unit()) as f32).collect();
        let mut stereo: Vec<f32> = left
            .iter()
            .zip(&right)
            .flat_map(|(&l, &r)| [l, r])
            .collect();
        let mut st = Biquad::new(2, 48_000.0, kind, 2500.0).unwrap();
        let mut pos = 0;
        while pos < stereo.len() {
            let end = (pos + 2 * rng.range(1, 700)).min(stereo.len());
            st.process(&mut stereo[pos..end]);
            pos = end;
        }
        for (ch, input) in [left, right].into_iter().enumerate() {
            let mut mono = Biquad::new(1, 48_000.0, kind, 2500.0).unwrap();
            let mut buf = input;
            mono.process(&mut buf);
            let other: Vec<f32> = stereo.iter().skip(ch).step_by(2).copied().collect();
            assert_eq!(buf, other, "channel {ch}");
        }
    }

    #[test]
    fn reset_and_set_sample_rate_behave_like_a_fresh_filter() {
        let kind = BiquadKind::LowShelf {
            gain_db: -6.0,
            q: 0.9,
        };
        let mut used = Biquad::new(1, 44_100.0, kind, 300.0).unwrap();
        used.process(&mut vec![0.7; 1000]);
        used.set_sample_rate(96_000.0);
        used.set_sample_rate(-1.0); // ignored
        let mut fresh = Biquad::new(1, 96_000.0, kind, 300.0).unwrap();
        let input: Vec<f32> = (0..3000).map(|n| ((n as f32) * 0.01).sin()).collect();
        let (mut a, mut b) = (input.clone(), input);
        used.process(&mut a);
        fresh.process(&mut b);
        assert_eq!(a, b);
        used.reset();
        assert!(used.state.iter().all(|s| *s == [0.0; 2]));

        // Lowering the rate below what the design allows clamps the frequency.
        let mut hp =
            Biquad::new(1, 96_000.0, BiquadKind::butterworth_high_pass(), 30_000.0).unwrap();
        hp.set_sample_rate(44_100.0);
        assert_eq!(hp.freq_hz(), MAX_FREQ_RATIO * 44_100.0);
        assert!((hp.magnitude_db(hp.freq_hz()) + 3.0103).abs() < 0.001);
    }

    #[test]
    fn hostile_input_never_produces_nan_or_inf() {
        let mut filter = Biquad::new(
            2,
            48_000.0,
            BiquadKind::Peaking {
                gain_db: 24.0,
                q: 0.5,
            },
            1000.0,
        )
        .unwrap();
        let mut block = vec![
            f32::NAN,
            f32::INFINITY,
            f32::MAX,
            -f32::MAX,
            f32::NEG_INFINITY,
            1e-45,
        ];
        block.extend(std::iter::repeat_n(f32::MAX, 400));
        block.extend(std::iter::repeat_n(0.0, 20_000));
        filter.process(&mut block);
        assert!(block.iter().all(|x| x.is_finite()));
        // Silence afterwards decays to exact zeros (state flushed, no subnormal tail).
        assert!(block[block.len() - 100..].iter().all(|&x| x == 0.0));
    }

    #[test]
    fn rejects_invalid_designs_with_the_offending_value() {
        let bw = BiquadKind::butterworth_low_pass();
        assert_eq!(
            Biquad::new(0, 48_000.0, bw, 1000.0).unwrap_err(),
            BiquadError::NoChannels(0)
        );
        assert_eq!(
            Biquad::new(1, 0.0, bw, 1000.0).unwrap_err(),
            BiquadError::SampleRate(0.0)
        );
        let err = Biquad::new(1, 48_000.0, bw, 30_000.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "biquad frequency must be within (0, 23520) Hz at this sample rate, got 30000 Hz"
        );
        assert_eq!(
            Biquad::new(1, 48_000.0, BiquadKind::Notch { q: 0.0 }, 50.0).unwrap_err(),
            BiquadError::Q(0.0)
        );
        let loud = BiquadKind::Peaking {
            gain_db: f64::NAN,
            q: 1.0,
        };
        assert!(matches!(
            Biquad::new(1, 48_000.0, loud, 50.0),
            Err(BiquadError::Gain(_))
        ));
        let mut ok = Biquad::new(1, 48_000.0, bw, 1000.0).unwrap();
        assert!(ok.set_design(bw, -5.0).is_err());
        assert_eq!(ok.freq_hz(), 1000.0);
    }
}
