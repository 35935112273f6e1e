//! Delay by a whole or fractional number of samples: the time-alignment of a mic that
//! captured a source later or earlier than its partner.
//!
//! Whole samples are a plain delay line (bit-exact). A fractional part adds a windowed-sinc
//! interpolator (Blackman window, 64 taps), which has a bulk latency of [`FIR_HALF`]
//! samples; that bulk is reported as [`Processor::latency`] so the console removes it and
//! the net shift is exactly the delay asked for.

use std::collections::VecDeque;
use std::f64::consts::PI;

use crate::dsp::Processor;

/// Half the interpolator's length: its bulk delay in samples.
pub const FIR_HALF: usize = 32;

/// A delay of `delay` samples (≥ 0, fractional allowed) beyond its reported latency.
#[derive(Debug, Clone)]
pub struct Delay {
    channels: usize,
    whole: usize,
    taps: Vec<f64>,
    /// Per channel the last `whole + taps.len()` inputs, newest at the back.
    lines: Vec<VecDeque<f32>>,
}

impl Delay {
    /// A delay of `delay` samples (negative values count as 0) on `channels` interleaved
    /// channels.
    pub fn new(channels: usize, delay: f64) -> Self {
        let delay = if delay.is_finite() {
            delay.max(0.0)
        } else {
            0.0
        };
        let whole = delay.floor() as usize;
        let frac = delay - whole as f64;
        let taps = if frac < 1e-9 {
            Vec::new()
        } else {
            let n = 2 * FIR_HALF + 1;
            let centre = FIR_HALF as f64 + frac;
            let raw: Vec<f64> = (0..n)
                .map(|i| {
                    let t = i as f64 - centre;
                    let sinc = if t.abs() < 1e-12 {
                        1.0
                    } else {
                        (PI * t).sin() / (PI * t)
                    };
                    // Blackman window centred on the fractional position.
                    let u = (i as f64 - frac) / (n - 1) as f64;
                    let w = 0.42 - 0.5 * (2.0 * PI * u).cos() + 0.08 * (4.0 * PI * u).cos();
                    sinc * w.max(0.0)
                })
                .collect();
            let sum: f64 = raw.iter().sum();
            raw.iter().map(|v| v / sum).collect()
        };
        let channels = channels.max(1);
        let len = whole + taps.len().max(1);
        Delay {
            channels,
            whole,
            lines: vec![VecDeque::from(vec![0.0; len]); channels],
            taps,
        }
    }
}

impl Processor for Delay {
    fn reset(&mut self) {
        for l in &mut self.lines {
            l.iter_mut().for_each(|v| *v = 0.0);
        }
    }

    fn set_sample_rate(&mut self, _rate: f64) {
        self.reset();
    }

    fn process(&mut self, block: &mut [f32]) {
        for frame in block.chunks_exact_mut(self.channels) {
            for (s, line) in frame.iter_mut().zip(&mut self.lines) {
                line.pop_front();
                line.push_back(if s.is_finite() { *s } else { 0.0 });
                let n = line.len();
                *s = if self.taps.is_empty() {
                    line[n - 1 - self.whole]
                } else {
                    // taps[i] weighs the input i + whole samples ago.
                    self.taps
                        .iter()
                        .enumerate()
                        .map(|(i, t)| t * f64::from(line[n - 1 - self.whole - i]))
                        .sum::<f64>() as f32
                };
            }
        }
    }

    fn latency(&self) -> usize {
        if self.taps.is_empty() { 0 } else { FIR_HALF }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testsig::*;

    #[test]
    fn whole_sample_delay_is_exact() {
        let mut rng = Rng(4);
        let x = rng.noise(1000, 0.3);
        let mut d = Delay::new(1, 7.0);
        assert_eq!(d.latency(), 0);
        let y = run(&mut d, &x, 100);
        assert!(y[..7].iter().all(|&v| v == 0.0));
        assert!((7..1000).all(|i| y[i] == x[i - 7] as f32 as f64));
    }

    #[test]
    fn fractional_delay_shifts_a_tone_by_the_fraction() {
        let rate = 44_100.0;
        for delay in [0.1, 2.3, 9.75, 441.5] {
            let mut d = Delay::new(2, delay);
            let lat = d.latency();
            for f in [100.0, 1000.0, 10_000.0] {
                d.reset();
                let n = 8000;
                let x = sine(n, rate, f, 0.5, 0.0);
                let stereo: Vec<f64> = x.iter().flat_map(|&v| [v, -v]).collect();
                let y = run(&mut d, &stereo, 256);
                let want = sine(
                    n,
                    rate,
                    f,
                    0.5,
                    -2.0 * std::f64::consts::PI * f * (delay + lat as f64) / rate,
                );
                let err = (2000..n)
                    .map(|i| {
                        (y[2 * i] - want[i])
                            .abs()
                            .max((y[2 * i + 1] + want[i]).abs())
                    })
                    .fold(0.0, f64::max);
                assert!(err < 0.5 * 1e-3, "delay {delay} at {f} Hz: error {err}");
            }
        }
    }
}
