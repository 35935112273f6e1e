//! Automation: a gain that moves over time, given as breakpoints, played sample by sample.
//!
//! Between two points the gain moves linearly in dB; before the first point and after the
//! last it holds their value. Every sample's gain is computed from its absolute frame index
//! alone (in f64), so the result does not depend on how the audio is cut into blocks.

use super::{Processor, db_to_gain};
use crate::dsp::biquad::{Biquad, BiquadKind};

/// A breakpoint curve in dB over frames.
#[derive(Debug, Clone, PartialEq)]
pub struct Automation {
    /// (frame, dB), frames ascending.
    points: Vec<(f64, f64)>,
    /// Segment of the last lookup: a cursor, so sequential playback walks the points once.
    cursor: usize,
}

impl Automation {
    /// A curve through `points` given as (seconds, dB) at `rate` Hz. Points must be in time
    /// order (the session validates it); an empty curve is 0 dB everywhere.
    pub fn new(points: impl IntoIterator<Item = (f64, f64)>, rate: f64) -> Automation {
        Automation {
            points: points.into_iter().map(|(t, db)| (t * rate, db)).collect(),
            cursor: 0,
        }
    }

    /// True when the curve has no points (0 dB throughout).
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The curve's value at `frame`, dB.
    pub fn db_at(&mut self, frame: u64) -> f64 {
        let p = &self.points;
        let Some(first) = p.first() else {
            return 0.0;
        };
        let x = frame as f64;
        // The cursor only speeds the search up: the value depends on `frame` alone.
        if self.cursor >= p.len() || (self.cursor > 0 && p[self.cursor - 1].0 > x) {
            self.cursor = 0;
        }
        while self.cursor < p.len() && p[self.cursor].0 <= x {
            self.cursor += 1;
        }
        let k = self.cursor;
        if k == 0 {
            first.1
        } else if k == p.len() {
            p[k - 1].1
        } else {
            let (a, b) = (p[k - 1], p[k]);
            a.1 + (b.1 - a.1) * (x - a.0) / (b.0 - a.0)
        }
    }

    /// Linear gains for `out.len()` frames from `start` on.
    pub fn fill_gains(&mut self, start: u64, out: &mut [f32]) {
        // Held stretches (a static bell, a ride between moves) repeat one dB value: its gain
        // is computed once, not per sample; the same dB gives the same gain bit for bit.
        let mut last: Option<(f64, f32)> = None;
        for (i, g) in out.iter_mut().enumerate() {
            let db = self.db_at(start + i as u64);
            *g = match last {
                Some((held, gain)) if held == db => gain,
                _ => {
                    let gain = db_to_gain(db) as f32;
                    last = Some((db, gain));
                    gain
                }
            };
        }
    }
}

/// A bell (peaking) filter whose gain follows an [`Automation`]: `y = x + (g − 1)·bp(x)`,
/// with `bp` a constant-peak-gain band-pass at the bell's centre and Q. The band-pass is
/// fixed and only its mix gain moves, so the gain can change on every sample without the
/// artefacts of modulating filter coefficients; at a constant gain it is a standard bell
/// (RBJ peaking EQ with the band-pass's bandwidth). Its magnitude at `f` is
/// `√((g² + u²)/(1 + u²))` with `u = Q·(f/f₀ − f₀/f)` ([`bell_power_gain`]).
pub struct AutomatedBell {
    channels: usize,
    band_pass: Biquad,
    gain: Automation,
    /// Frame index of the next sample.
    pos: u64,
    tap: Vec<f32>,
    gains: Vec<f32>,
}

impl AutomatedBell {
    /// A bell at `freq_hz` with `q` for `channels` interleaved channels at `rate` Hz; `None`
    /// when the frequency is above what the rate can hold.
    pub fn new(
        channels: usize,
        rate: f64,
        freq_hz: f64,
        q: f64,
        gain: Automation,
    ) -> Option<AutomatedBell> {
        let band_pass = Biquad::new(channels, rate, BiquadKind::BandPass { q }, freq_hz).ok()?;
        Some(AutomatedBell {
            channels,
            band_pass,
            gain,
            pos: 0,
            tap: Vec::new(),
            gains: Vec::new(),
        })
    }
}

/// Power gain (magnitude squared) of a bell at `freq_hz`, centre `centre_hz`, `q`, at a
/// gain of `gain_db` (the analog prototype; the digital bell matches it well below Nyquist).
pub fn bell_power_gain(freq_hz: f64, centre_hz: f64, q: f64, gain_db: f64) -> f64 {
    let g2 = 10f64.powf(gain_db / 10.0);
    let u = q * (freq_hz / centre_hz - centre_hz / freq_hz);
    (g2 + u * u) / (1.0 + u * u)
}

impl Processor for AutomatedBell {
    fn reset(&mut self) {
        self.band_pass.reset();
        self.pos = 0;
    }

    fn set_sample_rate(&mut self, rate: f64) {
        self.band_pass.set_sample_rate(rate);
        self.pos = 0;
    }

    fn process(&mut self, block: &mut [f32]) {
        let frames = block.len() / self.channels;
        self.tap.clear();
        self.tap.extend_from_slice(block);
        self.band_pass.process(&mut self.tap);
        self.gains.resize(frames, 0.0);
        self.gain.fill_gains(self.pos, &mut self.gains);
        for ((frame, tap), g) in block
            .chunks_exact_mut(self.channels)
            .zip(self.tap.chunks_exact(self.channels))
            .zip(&self.gains)
        {
            for (x, t) in frame.iter_mut().zip(tap) {
                *x += (g - 1.0) * t;
            }
        }
        self.pos += frames as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_interpolates_in_db_and_holds_at_the_ends() {
        let mut a = Automation::new([(1.0, 0.0), (2.0, -20.0)], 10.0);
        assert_eq!(a.db_at(0), 0.0);
        assert_eq!(a.db_at(10), 0.0);
        assert!((a.db_at(15) + 10.0).abs() < 1e-12);
        assert_eq!(a.db_at(20), -20.0);
        assert_eq!(a.db_at(99), -20.0);
        // Going back in time gives the same values (the cursor is only a speed-up).
        assert!((a.db_at(15) + 10.0).abs() < 1e-12);
        assert_eq!(Automation::new([], 10.0).db_at(5), 0.0);
    }

    fn tone(freq: f64, rate: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (0.5 * (2.0 * std::f64::consts::PI * freq * i as f64 / rate).sin()) as f32)
            .collect()
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    #[test]
    fn bell_cuts_its_band_by_the_automated_gain_and_leaves_others() {
        let rate = 48_000.0;
        let n = 48_000;
        // −9 dB held from 0 s: a tone at the centre loses 9 dB, one 3 octaves away ~nothing.
        for (freq, want_db, tol) in [(2000.0, -9.0, 0.1), (250.0, 0.0, 0.2)] {
            let mut bell =
                AutomatedBell::new(1, rate, 2000.0, 1.4, Automation::new([(0.0, -9.0)], rate))
                    .unwrap();
            let mut x = tone(freq, rate, n);
            let before = rms(&x[24_000..]);
            bell.process(&mut x);
            let got = 20.0 * (rms(&x[24_000..]) / before).log10();
            assert!((got - want_db).abs() < tol, "{freq} Hz: {got:.2} dB");
            let model = 10.0 * bell_power_gain(freq, 2000.0, 1.4, -9.0).log10();
            assert!(
                (got - model).abs() < 0.25,
                "{freq} Hz: {got:.2} vs model {model:.2}"
            );
        }
    }

    #[test]
    fn bell_is_block_size_independent_and_unity_at_0_db() {
        let rate = 44_100.0;
        let curve = || Automation::new([(0.1, 0.0), (0.3, -9.0), (0.6, 0.0)], rate);
        let x = tone(1000.0, rate, 44_100);
        let mut a = x.clone();
        AutomatedBell::new(1, rate, 1000.0, 1.0, curve())
            .unwrap()
            .process(&mut a);
        let mut b = x.clone();
        let mut bell = AutomatedBell::new(1, rate, 1000.0, 1.0, curve()).unwrap();
        for chunk in b.chunks_mut(777) {
            bell.process(chunk);
        }
        assert_eq!(a, b);
        // Before the curve moves (0 dB) the signal passes unchanged.
        assert_eq!(&a[..4410], &x[..4410]);
    }
}
