//! Problems a recording arrives with, found for the repair stage to act on and the report
//! to show: DC offset, rumble, mains hum, broadband noise, clicks and clipping.
//!
//! One streaming pass over the track's blocks ([`ProblemsMeter`]); memory is bounded by
//! a few windows of audio plus a few floats per analysis frame. Each detector returns
//! `None` on clean material: a finding is a claim that something needs fixing.

use serde::{Deserialize, Serialize};

use super::activity::Segment;

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
    /// Energy in that band relative to the track's whole energy (DC excluded), dB.
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
            }
        }
        self.frames += (block.len() / ch) as u64;
    }

    /// What was found in everything pushed.
    pub fn finish(self) -> Problems {
        Problems {
            dc: self.dc(),
            clipping: clipping(self.clip_high, self.clip_low, self.rate),
            ..Problems::default()
        }
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
fn clipping(mut high: RailRuns, mut low: RailRuns, rate: f64) -> Option<Clipping> {
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
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::f64::consts::PI;

    /// Seeded xorshift64*: uniform in [-1, 1).
    pub(crate) struct Rng(pub u64);
    impl Rng {
        pub fn next(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
            (x >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        }
        /// Gaussian (Box–Muller), unit variance.
        pub fn gauss(&mut self) -> f64 {
            let u = (self.next() * 0.5 + 0.5).max(1e-300);
            let v = self.next() * 0.5 + 0.5;
            (-2.0 * u.ln()).sqrt() * (2.0 * PI * v).cos()
        }
    }

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
        for (i, o) in out.iter_mut().enumerate() {
            let t = i as f64 / r;
            let chord = chords[(t / 2.0) as usize % chords.len()];
            let gain = if i >= break_at { 0.1 } else { 1.0 };
            let mut v = 0.0;
            for f in chord {
                for h in 1..=4 {
                    v += 0.03 / h as f64 * (2.0 * PI * f * h as f64 * t).sin();
                }
            }
            if i < break_at {
                // Bass: A1 (55 Hz) with harmonics at 110 and 165 Hz.
                v += 0.12 * (2.0 * PI * 55.0 * t).sin() + 0.05 * (2.0 * PI * 110.0 * t).sin();
                v += 0.02 * (2.0 * PI * 165.0 * t).sin();
            }
            *o = gain * v;
        }
        // Drums until the break: kick on beats (120 BPM), snare on off-beats.
        let beat = (0.5 * r) as usize;
        let mut start = 0;
        let mut k = 0;
        while start + beat < break_at {
            let len = (0.25 * r) as usize;
            for j in 0..len.min(n - start) {
                let t = j as f64 / r;
                let env = (-t / 0.06).exp();
                let v = if k % 2 == 0 {
                    // Kick: a sine falling from 120 to 50 Hz (phase integrated).
                    let phase = 2.0 * PI * (50.0 * t + 70.0 * 0.03 * (1.0 - (-t / 0.03).exp()));
                    0.4 * env * phase.sin()
                } else {
                    0.25 * (-t / 0.04).exp() * rng.gauss() * 0.5
                        + 0.1 * env * (2.0 * PI * 190.0 * t).sin()
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
        m.finish()
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
