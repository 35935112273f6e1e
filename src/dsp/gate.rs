//! A gate (downward expander with a floor) for bleed on close drum mics: open on the
//! track's own hits, closed by `range_db` between them.
//!
//! Keyed on the track itself (the loudest channel's peak envelope), with hysteresis (it
//! opens at the threshold and closes only `hysteresis_db` below it, so a decaying hit does
//! not chatter), a hold time, and look-ahead: the audio is delayed by the attack time so
//! the gate is fully open when the hit's first transient arrives.

use std::collections::VecDeque;

use crate::dsp::{Processor, db_to_gain};

/// Gate settings (the session's readable units).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateSettings {
    /// Opens when the peak envelope rises above this, dBFS.
    pub threshold_db: f64,
    /// Closes only this far below the threshold, dB.
    pub hysteresis_db: f64,
    /// Attenuation when closed, dB (positive).
    pub range_db: f64,
    /// Opening time, ms; the look-ahead is twice this.
    pub attack_ms: f64,
    /// Stays open this long after the envelope falls below the closing level, ms.
    pub hold_ms: f64,
    /// Closing time, ms.
    pub release_ms: f64,
}

/// The gate. Latency: the look-ahead (twice the attack time).
#[derive(Debug, Clone)]
pub struct Gate {
    settings: GateSettings,
    channels: usize,
    open_level: f64,
    close_level: f64,
    floor: f64,
    lookahead: usize,
    hold: usize,
    attack_step: f64,
    release_coef: f64,
    env_coef: f64,
    env: f64,
    open: bool,
    held: usize,
    gain: f64,
    lines: Vec<VecDeque<f32>>,
}

impl Gate {
    /// A gate on `channels` interleaved channels at `rate` Hz.
    pub fn new(channels: usize, rate: f64, settings: GateSettings) -> Self {
        let mut g = Gate {
            settings,
            channels: channels.max(1),
            open_level: 0.0,
            close_level: 0.0,
            floor: 0.0,
            lookahead: 0,
            hold: 0,
            attack_step: 1.0,
            release_coef: 0.0,
            env_coef: 0.0,
            env: 0.0,
            open: false,
            held: 0,
            gain: 0.0,
            lines: Vec::new(),
        };
        g.set_sample_rate(rate);
        g
    }
}

impl Processor for Gate {
    fn reset(&mut self) {
        self.env = 0.0;
        self.open = false;
        self.held = 0;
        self.gain = self.floor;
        self.lines = vec![VecDeque::from(vec![0.0; self.lookahead]); self.channels];
    }

    fn set_sample_rate(&mut self, rate: f64) {
        let s = self.settings;
        let ms = |v: f64| (v.max(0.0) * 1e-3 * rate).round() as usize;
        self.open_level = db_to_gain(s.threshold_db);
        self.close_level = db_to_gain(s.threshold_db - s.hysteresis_db.abs());
        self.floor = db_to_gain(-s.range_db.abs());
        // Twice the attack: fully open an attack time before the sample that opened it.
        self.lookahead = 2 * ms(s.attack_ms);
        self.hold = ms(s.hold_ms);
        // Opening is a linear ramp over the attack ;
        // closing an exponential fall with the release time constant.
        self.attack_step = (1.0 - self.floor) / ms(s.attack_ms).max(1) as f64;
        self.release_coef = (-1.0 / (s.release_ms.max(0.1) * 1e-3 * rate)).exp();
        // Peak envelope: instant rise, 5 ms fall.
        self.env_coef = (-1.0 / (0.005 * rate)).exp();
        self.reset();
    }

    fn process(&mut self, block: &mut [f32]) {
        for frame in block.chunks_exact_mut(self.channels) {
            let peak = frame
                .iter()
                .map(|v| {
                    if v.is_finite() {
                        f64::from(v.abs())
                    } else {
                        0.0
                    }
                })
                .fold(0.0, f64::max);
            self.env = peak.max(self.env * self.env_coef);
            if self.env >= self.open_level {
                self.open = true;
                self.held = self.hold;
            } else if self.open && self.env < self.close_level {
                if self.held > 0 {
                    self.held -= 1;
                } else {
                    self.open = false;
                }
            }
            self.gain = if self.open {
                (self.gain + self.attack_step).min(1.0)
            } else {
                self.floor + (self.gain - self.floor) * self.release_coef
            };
            for (s, line) in frame.iter_mut().zip(&mut self.lines) {
                line.push_back(if s.is_finite() { *s } else { 0.0 });
                let delayed = line.pop_front().unwrap_or(0.0);
                *s = (f64::from(delayed) * self.gain) as f32;
            }
        }
    }

    fn latency(&self) -> usize {
        self.lookahead
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testsig::*;

    const RATE: f64 = 48_000.0;

    #[test]
    fn bleed_between_hits_falls_by_the_range_and_hits_keep_their_attack() {
        let mut rng = Rng(17);
        let n = (RATE * 4.0) as usize;
        // Bleed: a tone and a little noise at about −40 dBFS.
        let mut bleed = sine(n, RATE, 180.0, 0.01, 0.0);
        for (b, v) in bleed.iter_mut().zip(rng.noise(n, 0.002)) {
            *b += v;
        }
        // Hits: noise bursts with an instant attack and 40 ms decay, every 0.5 s.
        let mut hits = vec![0.0; n];
        let period = (RATE * 0.5) as usize;
        for start in (period / 2..n).step_by(period) {
            for (i, h) in hits
                .iter_mut()
                .enumerate()
                .take((start + period / 2).min(n))
                .skip(start)
            {
                let t = (i - start) as f64 / RATE;
                *h = 0.5 * (-t / 0.04).exp() * rng.gauss();
            }
        }
        let x: Vec<f64> = hits.iter().zip(&bleed).map(|(a, b)| a + b).collect();
        let settings = GateSettings {
            threshold_db: -24.0,
            hysteresis_db: 6.0,
            range_db: 20.0,
            attack_ms: 1.0,
            hold_ms: 50.0,
            release_ms: 40.0,
        };
        let mut g = Gate::new(1, RATE, settings);
        let lat = g.latency();
        let mut padded = x.clone();
        padded.extend(std::iter::repeat_n(0.0, lat));
        let y = run(&mut g, &padded, 512);
        let y = &y[lat..];
        // Between hits (60 ms before each, before the look-ahead opens) the bleed is down
        // by the range.
        let gap = (RATE * 0.06) as usize;
        let quiet: Vec<usize> = (period / 2 + period..n)
            .step_by(period)
            .flat_map(|s| s - gap - lat..s - lat)
            .collect();
        let p = |v: &[f64]| quiet.iter().map(|&i| v[i] * v[i]).sum::<f64>();
        let drop = 10.0 * (p(&x) / p(y)).log10();
        assert!(drop > 19.0, "bleed lowered by {drop:.1} dB");
        // The first 2 ms of every hit, and the first 100 ms as a whole, pass intact.
        for start in (period / 2..n).step_by(period) {
            let attack = (RATE * 0.002) as usize;
            for i in start..start + attack {
                assert!(
                    (y[i] - x[i]).abs() < 1e-6,
                    "attack attenuated at {i}: {} vs {}",
                    y[i],
                    x[i]
                );
            }
            let body = (RATE * 0.1) as usize;
            let e = |v: &[f64]| v[start..start + body].iter().map(|a| a * a).sum::<f64>();
            let change = 10.0 * (e(y) / e(&x)).log10();
            assert!(
                change.abs() < 0.5,
                "hit at {start} changed by {change:.2} dB"
            );
        }
    }
}
