//! Harmonic bass enhancement (the psychoacoustic bass of MaxxBass or Renaissance Bass): a
//! parallel, band-limited saturation that adds the upper harmonics of a low instrument's
//! fundamentals, so the ear still hears its pitch and punch at a quiet playback level,
//! where the equal-loudness contours swallow the fundamentals themselves.

use super::Processor;
use super::biquad::{Biquad, BiquadKind};

/// Time constant of the level follower that normalises the generator's input, s: long
/// enough not to ripple on a 40 Hz tone, short enough to follow the notes.
const FOLLOW_S: f64 = 0.05;
/// The soft clip of the normalised input saturates at this many times its RMS level.
const CLIP: f64 = 4.0;
/// Fundamentals up to this multiple of `low_hz` feed the generator.
const SOURCE_RATIO: f64 = 1.5;
/// Octave a full-wave rectifier makes of a sine, per unit of the sine's amplitude:
/// |sin| = 2/π − (4/π)·Σ cos(2kωt)/(4k² − 1), so 4/(3π) (the level follower divides by
/// the RMS and multiplies by it again, so the amplitude carries through).
const OCTAVE_PER_AMPLITUDE: f64 = 4.0 / (3.0 * std::f64::consts::PI);

/// Settings of [`BassHarmonics`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BassHarmonicsSettings {
    /// Level of the added octave harmonic relative to the fundamental it comes from, dB
    /// (on a steady tone; the higher harmonics follow 10 and 14 dB below it).
    pub amount_db: f64,
    /// The harmonics are kept above this, Hz (4th-order high-pass): nothing is added to
    /// the fundamentals' own region, so loud playback gets no more boom. Fundamentals up to
    /// 1.5 × this feed the generator.
    pub low_hz: f64,
    /// The harmonics are kept below this, Hz (2nd-order low-pass).
    pub high_hz: f64,
}

/// The enhancer: dry signal plus the generated harmonics, per channel.
///
/// Signal flow: low-pass (4th order) to the fundamentals → divided by their RMS level (a
/// one-pole follower), so the result is the same shape at any input level → soft clip →
/// full-wave rectifier (even harmonics: octave, two octaves…) → times the level again →
/// band-pass to `low_hz`…`high_hz` → added to the dry signal at the amount. Linear in the
/// input level; silence in, silence out; no latency.
pub struct BassHarmonics {
    channels: usize,
    settings: BassHarmonicsSettings,
    source: Vec<Biquad>,
    shape: Vec<Biquad>,
    /// Per channel, the fundamentals' mean square.
    level: Vec<f64>,
    follow: f64,
    gain: f64,
    wet: Vec<f32>,
}

impl BassHarmonics {
    /// The enhancer for `channels` interleaved channels at `rate` Hz.
    pub fn new(channels: usize, rate: f64, settings: BassHarmonicsSettings) -> BassHarmonics {
        let mut h = BassHarmonics {
            channels: channels.max(1),
            settings,
            source: Vec::new(),
            shape: Vec::new(),
            level: vec![0.0; channels.max(1)],
            follow: 0.0,
            gain: 0.0,
            wet: Vec::new(),
        };
        h.set_sample_rate(rate);
        h
    }
}

impl Processor for BassHarmonics {
    fn reset(&mut self) {
        self.source.iter_mut().for_each(Processor::reset);
        self.shape.iter_mut().for_each(Processor::reset);
        self.level.fill(0.0);
    }

    fn set_sample_rate(&mut self, rate: f64) {
        let s = self.settings;
        let nyquist = 0.49 * rate;
        let low = s.low_hz.clamp(10.0, 0.5 * nyquist);
        let filter = |kind, f: f64| {
            Biquad::new(self.channels, rate, kind, f.clamp(1.0, nyquist))
                .expect("frequency clamped into the valid range")
        };
        // Two Butterworth sections of Q 0.54 and 1.31: a 4th-order Butterworth.
        let q4 = [0.541_196_1, 1.306_563];
        self.source = q4
            .iter()
            .map(|&q| filter(BiquadKind::LowPass { q }, SOURCE_RATIO * low))
            .collect();
        self.shape = q4
            .iter()
            .map(|&q| filter(BiquadKind::HighPass { q }, low))
            .chain([filter(
                BiquadKind::butterworth_low_pass(),
                s.high_hz.max(low * 1.5),
            )])
            .collect();
        self.follow = (-1.0 / (FOLLOW_S * rate)).exp();
        self.gain = 10f64.powf(s.amount_db / 20.0) / OCTAVE_PER_AMPLITUDE;
        self.reset();
    }

    fn process(&mut self, block: &mut [f32]) {
        let ch = self.channels;
        let whole = block.len() / ch * ch;
        let block = &mut block[..whole];
        self.wet.clear();
        self.wet.extend_from_slice(block);
        for f in &mut self.source {
            f.process(&mut self.wet);
        }
        let a = self.follow;
        for frame in self.wet.chunks_exact_mut(ch) {
            for (x, ms) in frame.iter_mut().zip(&mut self.level) {
                let v = f64::from(*x);
                *ms = a * *ms + (1.0 - a) * v * v;
                let rms = ms.sqrt();
                *x = if rms > 1e-12 {
                    let u = CLIP * (v / rms / CLIP).tanh();
                    (u.abs() * rms) as f32
                } else {
                    0.0
                };
            }
        }
        for f in &mut self.shape {
            f.process(&mut self.wet);
        }
        let g = self.gain as f32;
        for (y, w) in block.iter_mut().zip(&self.wet) {
            *y += g * w;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testsig::{Rng, power, run, sine, to_f32, tone_power};

    const RATE: f64 = 48_000.0;

    fn settings(amount_db: f64) -> BassHarmonicsSettings {
        BassHarmonicsSettings {
            amount_db,
            low_hz: 100.0,
            high_hz: 500.0,
        }
    }

    fn db(x: f64) -> f64 {
        10.0 * x.log10()
    }

    #[test]
    fn a_low_tone_gets_its_octave_at_the_amount_and_no_more_fundamental() {
        let mut rng = Rng(0x6a55);
        for _ in 0..4 {
            // Fundamentals where the ear loses them at low volume: 55…90 Hz.
            let f = 55.0 + 35.0 * 0.5 * (rng.uniform() + 1.0);
            let amp = 0.05 + 0.4 * 0.5 * (rng.uniform() + 1.0);
            let amount = -16.0 + 8.0 * 0.5 * (rng.uniform() + 1.0);
            let x = sine(2 * 48_000, RATE, f, amp, rng.uniform());
            let y = run(&mut BassHarmonics::new(1, RATE, settings(amount)), &x, 1024);
            let (x, y) = (&x[48_000..], &y[48_000..]);
            let fund = tone_power(x, RATE, f);
            // The octave is at the amount, less the high-pass's loss there (≤ 3 dB at
            // 100 Hz and above, more below).
            let hp_loss = -db(1.0 + (100.0 / (2.0 * f)).powi(8));
            let octave = db(tone_power(y, RATE, 2.0 * f) / fund);
            assert!(
                (octave - (amount + hp_loss)).abs() < 1.0,
                "{f:.0} Hz: octave {octave:.1} dB, want {:.1}",
                amount + hp_loss
            );
            // No boom: the fundamental changes by less than 0.2 dB.
            let change = db(tone_power(y, RATE, f) / fund);
            assert!(
                change.abs() < 0.2,
                "{f:.0} Hz fundamental moved {change:.2} dB"
            );
            // Band-limited: the harmonics above 1 kHz are 30 dB under the fundamental.
            for k in (12..=20).map(|k| k as f64 * f).filter(|&h| h > 1000.0) {
                let p = db(tone_power(y, RATE, k) / fund);
                assert!(p < -30.0, "harmonic at {k:.0} Hz: {p:.1} dB");
            }
        }
    }

    #[test]
    fn linear_in_level_and_silent_on_silence() {
        let mut rng = Rng(0x1e7e1);
        let bass = crate::dsp::testsig::band_noise(&mut rng, 48_000, RATE, 0.2, 30.0, 200.0);
        let x: Vec<f64> = bass.iter().map(|&v| v as f64).collect();
        let quiet: Vec<f64> = x.iter().map(|v| v * 0.1).collect();
        let s = settings(-10.0);
        let y = run(&mut BassHarmonics::new(1, RATE, s), &x, 4096);
        let yq = run(&mut BassHarmonics::new(1, RATE, s), &quiet, 4096);
        // 20 dB down in, the same added harmonics 20 dB down out.
        let added: Vec<f64> = y.iter().zip(&x).map(|(a, b)| a - b).collect();
        let added_q: Vec<f64> = yq.iter().zip(&quiet).map(|(a, b)| a - b).collect();
        let err: f64 = added
            .iter()
            .zip(&added_q)
            .map(|(a, b)| (a * 0.1 - b).powi(2))
            .sum::<f64>();
        assert!(err / added.iter().map(|a| (a * 0.1).powi(2)).sum::<f64>() < 1e-6);
        assert!(power(&added) > 1e-3 * power(&x), "something is added");
        let mut zeros = vec![0.0f32; 9000];
        BassHarmonics::new(2, RATE, s).process(&mut zeros);
        assert!(zeros.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn blocks_do_not_matter_and_nothing_blows_up() {
        let mut rng = Rng(0xb10c);
        // Stereo noise bursts with silences and a full-scale square: finite, bounded.
        let x: Vec<f64> = (0..96_000)
            .map(|i| match (i / 9000) % 3 {
                0 => rng.gauss() * 0.3,
                1 => 0.0,
                _ => {
                    if (i / 300) % 2 == 0 {
                        1.0
                    } else {
                        -1.0
                    }
                }
            })
            .collect();
        let s = settings(-6.0);
        let mut a = to_f32(&x);
        let mut b = a.clone();
        BassHarmonics::new(2, RATE, s).process(&mut a);
        let mut p = BassHarmonics::new(2, RATE, s);
        for chunk in b.chunks_mut(2 * 777) {
            p.process(chunk);
        }
        assert_eq!(a, b);
        assert!(a.iter().all(|v| v.is_finite() && v.abs() < 4.0));
    }
}
