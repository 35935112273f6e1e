//! True-peak-safe look-ahead brickwall limiter for the master bus.
//!
//! The required gain of every frame comes from an oversampled true-peak reading
//! ([`TruePeakDetector`]), so inter-sample overs are caught, not just sample peaks. The gain
//! curve is built so that it has fully reached the required value *before* the peak arrives:
//!
//! 1. `r[n] = min(1, target / peak[n])`: the gain frame `n` needs.
//! 2. A sliding minimum of `r` over `W + 2·SPREAD` frames (monotonic deque, O(1) amortised).
//! 3. Exponential release: the curve may fall instantly but rises with the release time
//!    constant; it never exceeds the held minimum.
//! 4. A moving average over `W` frames (running sum) turns the attack into a smooth ramp.
//!
//! Every one of the `W` values averaged at the frame a peak is output — and at `SPREAD`
//! frames either side of it — is at most that peak's required gain, so the gain there is at
//! most the required gain: no attack overshoot by construction. What remains is the small
//! change a moving gain makes to the waveform between samples, which the 0.05 dB margin
//! covers. The audio is delayed by [`latency`](Processor::latency) frames so it lines up
//! with its gain.

use std::collections::VecDeque;

use crate::dsp::Processor;
use crate::dsp::oversample::TruePeakDetector;

/// Default look-ahead: long enough for a smooth (≈3 ms) attack ramp, short enough to keep
/// transients punchy.
pub const DEFAULT_LOOKAHEAD_MS: f64 = 3.0;
/// Default release time constant.
pub const DEFAULT_RELEASE_MS: f64 = 80.0;
/// Shortest look-ahead accepted. Gain ramps last this long; a faster-moving gain modulates
/// the audio enough to create new inter-sample peaks. Measured on +3..+30 dBFS noise and
/// squares with zero release, as our own (near-analog) meter reads the output: +0.06 dB
/// over the ceiling at 0.5 ms, +0.006 dB at 1 ms, ≥ 0.02 dB under from 1.5 ms.
pub const MIN_LOOKAHEAD_MS: f64 = 1.5;
/// Longest look-ahead accepted; bounds the memory of the delay line.
pub const MAX_LOOKAHEAD_MS: f64 = 100.0;

/// Internal safety margin below the ceiling. It absorbs the small difference between the
/// true peak of `gain × signal` and `gain × (true peak of signal)` while the gain moves,
/// and float rounding.
const MARGIN_DB: f64 = 0.05;
/// Frames on each side of a peak that are also held at (or below) its required gain: the
/// reconstructed waveform between two samples depends on the samples around it, so those
/// must be attenuated too, not only the sample at the crest.
const SPREAD: usize = 2;
/// Once the released gain is this close to unity it snaps to exactly 1, so material that
/// needs no limiting passes bit-exact after the limiter has been working.
const UNITY_SNAP: f64 = 1e-9;
/// Fixed-point scale of the moving average: gains are summed as integers in units of
/// 2^-40, so the running sum is exact (a float running sum cancels catastrophically when
/// the gain falls by many orders of magnitude, and could even turn negative). Gains are
/// rounded down, so quantisation only ever adds reduction; below 2^-40 (≈ −241 dB, needed
/// only for input beyond +240 dBFS) the gain is 0. A sum of up to 2^23 frames fits in u64.
const GAIN_ONE: u64 = 1 << 40;
/// Accepted sample rates (Hz). The upper bound keeps the look-ahead window (≤ 100 ms)
/// within the exact fixed-point sum and bounds memory.
const SAMPLE_RATE_RANGE: std::ops::RangeInclusive<f64> = 1_000.0..=1_536_000.0;

/// Invalid limiter settings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LimiterError {
    /// No channels to process.
    #[error("limiter needs at least 1 channel, got {0}")]
    NoChannels(usize),
    /// Sample rate outside 1 kHz ..= 1.536 MHz.
    #[error("limiter sample rate must be within 1000..=1536000 Hz, got {0} Hz")]
    SampleRate(f64),
    /// A parameter outside its valid range.
    #[error("limiter {name} must be {expected}, got {value}")]
    Parameter {
        /// Parameter name.
        name: &'static str,
        /// What was expected.
        expected: &'static str,
        /// The value given.
        value: f64,
    },
}

/// Gain reduction applied since construction or the last reset, for reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GainReductionStats {
    /// Largest reduction in dB (positive: 3.0 means the gain went down to −3 dB).
    pub max_db: f64,
    /// Mean reduction in dB over all frames processed (frames at unity count as 0 dB).
    pub mean_db: f64,
    /// Frames processed.
    pub frames: u64,
}

/// Multichannel (linked: one gain for all channels, so the image does not shift)
/// look-ahead brickwall limiter with oversampled true-peak detection.
#[derive(Debug, Clone)]
pub struct TruePeakLimiter {
    channels: usize,
    sample_rate: f64,
    ceiling_dbtp: f64,
    lookahead_ms: f64,
    release_ms: f64,

    detector: TruePeakDetector,
    /// Linear ceiling including the safety margin.
    target: f64,
    /// Moving-average length `W` in frames.
    window: usize,
    /// Sliding-minimum length `W + 2·SPREAD`.
    hold: usize,
    /// Per-frame release factor (0 = instant release).
    release_coeff: f64,
    /// Audio delay in frames.
    latency: usize,

    /// (frame index, required gain), increasing in both: front is the window minimum.
    min_queue: VecDeque<(u64, f64)>,
    frame_index: u64,
    /// Held-and-released gain before averaging.
    envelope: f64,
    /// The last `W` envelope values in units of 1/[`GAIN_ONE`], and their exact sum.
    box_values: Vec<u64>,
    box_pos: usize,
    box_sum: u64,
    /// Audio delay line, `latency` frames interleaved.
    delay_line: Vec<f32>,
    delay_pos: usize,

    gr_max_db: f64,
    gr_sum_db: f64,
    frames: u64,
}

impl TruePeakLimiter {
    /// A limiter for `channels` interleaved channels at `sample_rate` Hz that keeps the true
    /// peak of its output at or below `ceiling_dbtp` (dBTP, e.g. −1.0). `lookahead_ms`
    /// ([`MIN_LOOKAHEAD_MS`]..=[`MAX_LOOKAHEAD_MS`], typically [`DEFAULT_LOOKAHEAD_MS`]) sets
    /// the attack ramp and adds that much latency; `release_ms` (≥ 0) is the release time
    /// constant.
    pub fn new(
        channels: usize,
        sample_rate: f64,
        ceiling_dbtp: f64,
        lookahead_ms: f64,
        release_ms: f64,
    ) -> Result<Self, LimiterError> {
        if channels == 0 {
            return Err(LimiterError::NoChannels(channels));
        }
        if !SAMPLE_RATE_RANGE.contains(&sample_rate) {
            return Err(LimiterError::SampleRate(sample_rate));
        }
        let check = |name, ok: bool, expected, value| {
            if ok {
                Ok(())
            } else {
                Err(LimiterError::Parameter {
                    name,
                    expected,
                    value,
                })
            }
        };
        check(
            "ceiling_dbtp",
            ceiling_dbtp.is_finite(),
            "finite",
            ceiling_dbtp,
        )?;
        check(
            "lookahead_ms",
            (MIN_LOOKAHEAD_MS..=MAX_LOOKAHEAD_MS).contains(&lookahead_ms),
            "within 1.5..=100 ms",
            lookahead_ms,
        )?;
        check(
            "release_ms",
            release_ms.is_finite() && release_ms >= 0.0,
            "finite and ≥ 0 ms",
            release_ms,
        )?;
        let mut limiter = Self {
            channels,
            sample_rate,
            ceiling_dbtp,
            lookahead_ms,
            release_ms,
            detector: TruePeakDetector::new(channels, sample_rate),
            target: 1.0,
            window: 1,
            hold: 1,
            release_coeff: 0.0,
            latency: 0,
            min_queue: VecDeque::new(),
            frame_index: 0,
            envelope: 1.0,
            box_values: Vec::new(),
            box_pos: 0,
            box_sum: 0,
            delay_line: Vec::new(),
            delay_pos: 0,
            gr_max_db: 0.0,
            gr_sum_db: 0.0,
            frames: 0,
        };
        limiter.configure();
        Ok(limiter)
    }

    /// Ceiling in dBTP.
    pub fn ceiling_dbtp(&self) -> f64 {
        self.ceiling_dbtp
    }

    /// Gain reduction applied since construction or the last reset.
    pub fn gain_reduction_db(&self) -> GainReductionStats {
        GainReductionStats {
            max_db: self.gr_max_db,
            mean_db: if self.frames == 0 {
                0.0
            } else {
                self.gr_sum_db / self.frames as f64
            },
            frames: self.frames,
        }
    }

    /// Derive everything that depends on the sample rate, then reset.
    fn configure(&mut self) {
        let fs = self.sample_rate;
        self.detector = TruePeakDetector::new(self.channels, fs);
        self.target = 10f64.powf((self.ceiling_dbtp - MARGIN_DB) / 20.0);
        self.window = ((self.lookahead_ms * fs / 1000.0).round() as usize).max(1);
        self.hold = self.window + 2 * SPREAD;
        let release_frames = self.release_ms * fs / 1000.0;
        self.release_coeff = if release_frames > 0.0 {
            (-1.0 / release_frames).exp()
        } else {
            0.0
        };
        // The average over W frames of a W+2·SPREAD hold is at most r[m] for output frames
        // m+W−1 .. m+W−1+2·SPREAD (detector frames); centring the peak in that run adds
        // W−1+SPREAD frames to the detector's own latency.
        self.latency = self.detector.latency() + self.window - 1 + SPREAD;
        self.min_queue = VecDeque::with_capacity(self.hold + 1);
        self.box_values = vec![GAIN_ONE; self.window];
        self.delay_line = vec![0.0; self.latency * self.channels];
        self.reset();
    }

    /// Limits `block` (interleaved, whole frames) using true-peak readings taken elsewhere:
    /// `peaks[i]` must be what this limiter's own detector ([`TruePeakDetector::push_frame`],
    /// same channels and rate) reads when fed frame `i` of the block. The reading scales
    /// exactly with gain, so a caller limiting one signal at several gains measures its
    /// peaks once and scales them, instead of oversampling on every pass.
    pub fn process_with_peaks(&mut self, block: &mut [f32], peaks: &[f64]) {
        for (frame, &peak) in block.chunks_exact_mut(self.channels).zip(peaks) {
            sanitize(frame);
            self.limit_frame(frame, peak);
        }
    }

    /// Limit one frame in place.
    #[inline]
    fn process_frame(&mut self, frame: &mut [f32]) {
        sanitize(frame);
        let peak = self.detector.push_frame(frame);
        self.limit_frame(frame, peak);
    }

    /// Limit one (finite) frame whose detector reading is `peak`.
    #[inline]
    fn limit_frame(&mut self, frame: &mut [f32], peak: f64) {
        let required = if peak > self.target {
            self.target / peak
        } else {
            1.0
        };

        // Sliding minimum over the last `hold` required gains.
        let i = self.frame_index;
        self.frame_index += 1;
        while self.min_queue.back().is_some_and(|&(_, r)| r >= required) {
            self.min_queue.pop_back();
        }
        self.min_queue.push_back((i, required));
        while self
            .min_queue
            .front()
            .is_some_and(|&(j, _)| j + self.hold as u64 <= i)
        {
            self.min_queue.pop_front();
        }
        let held = self.min_queue.front().map_or(1.0, |&(_, r)| r);

        // Instant fall, exponential rise: never above `held`.
        self.envelope = if held <= self.envelope {
            held
        } else {
            held + (self.envelope - held) * self.release_coeff
        };
        if held == 1.0 && 1.0 - self.envelope < UNITY_SNAP {
            self.envelope = 1.0;
        }

        // Moving average over exact integers (see GAIN_ONE). `as` saturates and floors.
        let quantised = (self.envelope * GAIN_ONE as f64) as u64;
        self.box_sum = self.box_sum - self.box_values[self.box_pos] + quantised;
        self.box_values[self.box_pos] = quantised;
        self.box_pos += 1;
        if self.box_pos == self.window {
            self.box_pos = 0;
        }
        let gain = (self.box_sum as f64 / (self.window as f64 * GAIN_ONE as f64)).min(1.0);

        let c = self.channels;
        let slot = &mut self.delay_line[self.delay_pos * c..(self.delay_pos + 1) * c];
        for (x, d) in frame.iter_mut().zip(slot.iter_mut()) {
            let delayed = *d;
            *d = *x;
            *x = (f64::from(delayed) * gain) as f32;
        }
        self.delay_pos += 1;
        if self.delay_pos == self.latency {
            self.delay_pos = 0;
        }

        if gain < 1.0 {
            // A zero gain (absurd input) is reported at the envelope's resolution.
            let gr = -20.0 * gain.max(1.0 / GAIN_ONE as f64).log10();
            self.gr_max_db = self.gr_max_db.max(gr);
            self.gr_sum_db += gr;
        }
        self.frames += 1;
    }
}

/// Non-finite samples become silence so one bad sample cannot poison the gain.
#[inline]
fn sanitize(frame: &mut [f32]) {
    for x in frame.iter_mut() {
        if !x.is_finite() {
            *x = 0.0;
        }
    }
}

impl Processor for TruePeakLimiter {
    fn reset(&mut self) {
        self.detector.reset();
        self.min_queue.clear();
        self.frame_index = 0;
        self.envelope = 1.0;
        self.box_values.fill(GAIN_ONE);
        self.box_pos = 0;
        self.box_sum = GAIN_ONE * self.window as u64;
        self.delay_line.fill(0.0);
        self.delay_pos = 0;
        self.gr_max_db = 0.0;
        self.gr_sum_db = 0.0;
        self.frames = 0;
    }

    /// Rates outside 1 kHz ..= 1.536 MHz are ignored: the limiter keeps its current rate
    /// rather than run with nonsense coefficients.
    fn set_sample_rate(&mut self, rate: f64) {
        if SAMPLE_RATE_RANGE.contains(&rate) {
            self.sample_rate = rate;
            self.configure();
        }
    }

    /// Limits every whole frame. A trailing partial frame cannot be limited and is silenced.
    fn process(&mut self, block: &mut [f32]) {
        let whole = block.len() - block.len() % self.channels;
        let (frames, rest) = block.split_at_mut(whole);
        for frame in frames.chunks_exact_mut(self.channels) {
            self.process_frame(frame);
        }
        rest.fill(0.0);
    }

    fn latency(&self) -> usize {
        self.latency
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::oversample::TruePeakDetector;
    use crate::dsp::testsig::Rng;
    use std::f64::consts::PI;

    fn db(x: f64) -> f64 {
        20.0 * x.log10()
    }

    const RATES: [f64; 3] = [44_100.0, 48_000.0, 96_000.0];

    /// Independent measurement: the `ebur128` crate's true peak in dBTP, max over channels.
    fn ebur128_dbtp(signal: &[f32], channels: usize, rate: f64) -> f64 {
        let mut meter =
            ebur128::EbuR128::new(channels as u32, rate as u32, ebur128::Mode::TRUE_PEAK).unwrap();
        meter.add_frames_f32(signal).unwrap();
        meter.add_frames_f32(&vec![0.0; 64 * channels]).unwrap();
        let peak = (0..channels as u32)
            .map(|c| meter.true_peak(c).unwrap())
            .fold(0.0, f64::max);
        db(peak)
    }

    /// Our own (longer-filter, refined) detector over a whole signal, in dBTP.
    fn detector_dbtp(signal: &[f32], channels: usize, rate: f64) -> f64 {
        let mut det = TruePeakDetector::new(channels, rate);
        let mut sink = Vec::new();
        det.process(signal, &mut sink);
        det.process(&vec![0.0; (det.latency() + 1) * channels], &mut sink);
        db(det.max_peak())
    }

    /// Run `signal` (plus `latency` frames of silence to flush the delay line) through
    /// `limiter` in random block sizes 1..=4096; returns the output, latency removed.
    fn run(limiter: &mut TruePeakLimiter, signal: &[f32], rng: &mut Rng) -> Vec<f32> {
        let c = limiter.channels;
        let lat = limiter.latency();
        let mut buf = signal.to_vec();
        buf.extend(std::iter::repeat_n(0.0, lat * c));
        let mut pos = 0;
        while pos < buf.len() {
            let end = (pos + rng.range(1, 4096) * c).min(buf.len());
            limiter.process(&mut buf[pos..end]);
            pos = end;
        }
        buf.split_off(lat * c)
    }

    #[derive(Debug, Clone, Copy)]
    enum Kind {
        LoudNoise,
        SineBursts,
        Square,
        Spikes,
        Silence,
        FullScaleDc,
        Mix,
    }
    const KINDS: [Kind; 7] = [
        Kind::LoudNoise,
        Kind::SineBursts,
        Kind::Square,
        Kind::Spikes,
        Kind::Silence,
        Kind::FullScaleDc,
        Kind::Mix,
    ];

    /// Seeded test material, interleaved.
    fn make(kind: Kind, channels: usize, rate: f64, frames: usize, rng: &mut Rng) -> Vec<f32> {
        let mut out = vec![0.0f32; frames * channels];
        match kind {
            // White noise peaking at +12 dBFS.
            Kind::LoudNoise => out
                .iter_mut()
                .for_each(|x| *x = (4.0 * rng.uniform()) as f32),
            // Tone bursts up to +6 dBFS, 20 Hz .. 0.45·fs, hard on/off, with gaps.
            Kind::SineBursts => {
                let mut n = 0;
                while n < frames {
                    let len = rng.range(rate as usize / 200, rate as usize / 10);
                    let gap = rng.range(0, rate as usize / 50);
                    let f = rng.log_uniform(20.0, 0.45 * rate);
                    let amp = 2.0 * rng.unit();
                    let ph = 2.0 * PI * rng.unit();
                    for i in n..(n + len).min(frames) {
                        let v = amp * (2.0 * PI * f * (i - n) as f64 / rate + ph).sin();
                        for c in 0..channels {
                            out[i * channels + c] = (v * (1.0 - 0.3 * c as f64)) as f32;
                        }
                    }
                    n += len + gap;
                }
            }
            // Naive (aliased, sharp-edged) square at 0 dBFS: big inter-sample overshoot.
            Kind::Square => {
                let period = rng.range(4, 400) as f64 + rng.unit();
                for i in 0..frames {
                    let v = if (i as f64 / period).fract() < 0.5 {
                        1.0
                    } else {
                        -1.0
                    };
                    for c in 0..channels {
                        out[i * channels + c] = v;
                    }
                }
            }
            // Isolated single-sample spikes up to +18 dBFS over quiet noise.
            Kind::Spikes => {
                for x in out.iter_mut() {
                    *x = (0.01 * rng.uniform()) as f32;
                }
                for _ in 0..frames / 500 {
                    let i = rng.range(0, frames * channels - 1);
                    out[i] = (8.0 * rng.uniform()) as f32;
                }
            }
            Kind::Silence => {}
            // Silence, then full-scale DC (a step: its edge rings above 0 dBTP).
            Kind::FullScaleDc => out[frames / 4 * channels..].fill(1.0),
            // Low sines plus bright noise with uneven channels, +3 dBFS-ish.
            Kind::Mix => {
                let f = 40.0 + 200.0 * rng.unit();
                for i in 0..frames {
                    let s = (2.0 * PI * f * i as f64 / rate).sin();
                    for c in 0..channels {
                        let v = 0.9 * s * (1.0 + c as f64 * 0.2) + 0.5 * rng.uniform();
                        out[i * channels + c] = v as f32;
                    }
                }
            }
        }
        out
    }

    fn limiter(channels: usize, rate: f64, ceiling: f64, rng: &mut Rng) -> TruePeakLimiter {
        let lookahead = MIN_LOOKAHEAD_MS + 4.0 * rng.unit();
        let release = 5.0 + 200.0 * rng.unit();
        TruePeakLimiter::new(channels, rate, ceiling, lookahead, release).unwrap()
    }

    #[test]
    fn output_true_peak_stays_under_ceiling() {
        let mut rng = Rng(0x11_4417);
        let mut worst_ebur = f64::NEG_INFINITY;
        let mut worst_ours = f64::NEG_INFINITY;
        for (t, &kind) in KINDS.iter().cycle().take(3 * KINDS.len()).enumerate() {
            let rate = RATES[t % RATES.len()];
            let channels = 1 + t % 2;
            let ceiling = [-1.0, -0.1, -3.0, -2.0][t % 4];
            let input = make(kind, channels, rate, (0.25 * rate) as usize, &mut rng);
            let mut lim = limiter(channels, rate, ceiling, &mut rng);
            let out = run(&mut lim, &input, &mut rng);
            assert!(out.iter().all(|x| x.is_finite()));
            let over_ebur = ebur128_dbtp(&out, channels, rate) - ceiling;
            let over_ours = detector_dbtp(&out, channels, rate) - ceiling;
            worst_ebur = worst_ebur.max(over_ebur);
            worst_ours = worst_ours.max(over_ours);
            println!(
                "{kind:?} {rate} Hz {channels}ch ceiling {ceiling}: in {:+.2} dBTP, out \
                 {over_ebur:+.4} dB (ebur128) / {over_ours:+.4} dB (ours) vs ceiling, GR max \
                 {:.2} mean {:.2} dB",
                ebur128_dbtp(&input, channels, rate),
                lim.gain_reduction_db().max_db,
                lim.gain_reduction_db().mean_db
            );
            // Tolerance: none. The 0.05 dB internal margin must absorb everything.
            assert!(
                over_ebur <= 0.0,
                "{kind:?} {rate} Hz: {over_ebur:+.4} dB over (ebur128)"
            );
            assert!(
                over_ours <= 0.0,
                "{kind:?} {rate} Hz: {over_ours:+.4} dB over (ours)"
            );
        }
        println!("worst vs ceiling: ebur128 {worst_ebur:+.4} dB, ours {worst_ours:+.4} dB");
    }

    #[test]
    fn material_below_the_ceiling_passes_unchanged_apart_from_the_delay() {
        let mut rng = Rng(0xb1e55);
        for t in 0..12 {
            let rate = RATES[t % RATES.len()];
            let channels = 1 + t % 2;
            let ceiling = [-1.0, -0.1, -6.0][t % 3];
            let kind = [Kind::LoudNoise, Kind::SineBursts, Kind::Square, Kind::Mix][t % 4];
            let mut input = make(kind, channels, rate, (0.15 * rate) as usize, &mut rng);
            // Scale to 1 dB under the ceiling as our detector reads it. (ebur128 would do for
            // band-limited material, but on full-band noise it reads up to ~0.9 dB low, so
            // "1 dB under" by that meter can really be over.)
            let scale = 10f64.powf((ceiling - 1.0 - detector_dbtp(&input, channels, rate)) / 20.0);
            input
                .iter_mut()
                .for_each(|x| *x = (f64::from(*x) * scale) as f32);
            let mut lim = limiter(channels, rate, ceiling, &mut rng);
            let out = run(&mut lim, &input, &mut rng);
            let worst = input
                .iter()
                .zip(&out)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-6, "{kind:?} {rate} Hz: max diff {worst}");
            assert_eq!(lim.gain_reduction_db().max_db, 0.0);
        }
    }

    #[test]
    fn output_does_not_depend_on_block_partition() {
        let mut rng = Rng(0xb10c);
        for (t, &kind) in KINDS.iter().enumerate() {
            let rate = RATES[t % RATES.len()];
            let input = make(kind, 2, rate, (0.15 * rate) as usize, &mut rng);
            let (la, rel) = (MIN_LOOKAHEAD_MS + 4.0 * rng.unit(), 200.0 * rng.unit());
            let mut a = TruePeakLimiter::new(2, rate, -1.0, la, rel).unwrap();
            let mut b = a.clone();
            let whole = {
                let mut buf = input.clone();
                a.process(&mut buf);
                buf
            };
            let pieces = {
                let mut buf = input.clone();
                let mut pos = 0;
                while pos < buf.len() {
                    let end = (pos + 2 * rng.range(1, 4096)).min(buf.len());
                    b.process(&mut buf[pos..end]);
                    pos = end;
                }
                buf
            };
            let same = whole
                .iter()
                .zip(&pieces)
                .all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "{kind:?}: block partition changed the output");
            assert_eq!(a.gain_reduction_db(), b.gain_reduction_db());
        }
    }

    #[test]
    fn never_emits_nan_or_inf_even_on_huge_or_broken_input() {
        let mut rng = Rng(0xdead);
        for &rate in &RATES {
            let channels = 2;
            let frames = (0.1 * rate) as usize;
            let mut input: Vec<f32> = (0..frames * channels)
                .map(|_| match rng.range(0, 9) {
                    0 => f32::MAX,
                    1 => -f32::MAX,
                    2 => f32::NAN,
                    3 => f32::INFINITY,
                    4 => f32::NEG_INFINITY,
                    5 => 1e30,
                    6 => f32::MIN_POSITIVE / 8.0, // subnormal
                    _ => (1e20 * rng.uniform()) as f32,
                })
                .collect();
            // Then noise at +200 dBFS, which must come out limited, not silenced, and noise
            // at the edge of f32, whose required gain is below the envelope's resolution.
            input.extend((0..frames * channels).map(|_| (1e10 * rng.uniform()) as f32));
            input.extend((0..frames * channels).map(|_| (3e38 * rng.uniform()) as f32));
            // A 10 ms release recovers from the broken section well within the loud one.
            let mut lim = TruePeakLimiter::new(channels, rate, -1.0, 3.0, 10.0).unwrap();
            let out = run(&mut lim, &input, &mut rng);
            assert!(
                out.iter().all(|x| x.is_finite()),
                "{rate} Hz: non-finite output"
            );
            let (broken, loud) = out.split_at(frames * channels);
            let (loud, extreme) = loud.split_at(frames * channels);
            for part in [broken, loud, extreme] {
                let over = detector_dbtp(part, channels, rate) + 1.0;
                assert!(over <= 0.0, "{rate} Hz: {over:+.4} dB over the ceiling");
            }
            // Steady +200 dBFS noise is limited to within a few dB of the ceiling.
            let steady = &loud[loud.len() / 2..];
            let level = detector_dbtp(steady, channels, rate);
            assert!(
                level > -6.0,
                "{rate} Hz: +200 dBFS noise came out at {level:.2} dBTP"
            );
            let gr = lim.gain_reduction_db();
            assert!(gr.max_db.is_finite() && gr.mean_db.is_finite());
        }
    }

    #[test]
    fn reset_returns_to_the_initial_state() {
        let mut rng = Rng(0x5e7);
        for &rate in &RATES {
            let first = make(Kind::LoudNoise, 2, rate, (0.1 * rate) as usize, &mut rng);
            let second = make(Kind::SineBursts, 2, rate, (0.2 * rate) as usize, &mut rng);
            let mut used = TruePeakLimiter::new(2, rate, -1.0, 3.0, 50.0).unwrap();
            let mut fresh = used.clone();
            used.process(&mut first.clone());
            assert!(used.gain_reduction_db().max_db > 10.0);
            used.reset();
            assert_eq!(used.gain_reduction_db().frames, 0);
            let (mut a, mut b) = (second.clone(), second.clone());
            used.process(&mut a);
            fresh.process(&mut b);
            assert!(
                a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{rate} Hz"
            );
            assert_eq!(used.gain_reduction_db(), fresh.gain_reduction_db());
        }
    }

    #[test]
    fn set_sample_rate_matches_a_limiter_built_at_that_rate() {
        let mut rng = Rng(0x5a7e);
        let input = make(Kind::Mix, 2, 96_000.0, 9600, &mut rng);
        let mut moved = TruePeakLimiter::new(2, 44_100.0, -1.0, 2.0, 60.0).unwrap();
        moved.process(&mut input.clone());
        moved.set_sample_rate(96_000.0);
        moved.set_sample_rate(f64::NAN); // ignored
        let mut built = TruePeakLimiter::new(2, 96_000.0, -1.0, 2.0, 60.0).unwrap();
        assert_eq!(moved.latency(), built.latency());
        let (mut a, mut b) = (input.clone(), input);
        moved.process(&mut a);
        built.process(&mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn latency_is_detector_plus_lookahead_and_audio_is_aligned() {
        // 48 kHz, 2 ms: 24 (detector) + 96 − 1 + 2 (spread) = 121 frames.
        let mut lim = TruePeakLimiter::new(1, 48_000.0, -1.0, 2.0, 50.0).unwrap();
        assert_eq!(lim.latency(), 121);
        let mut impulse = vec![0.0f32; 400];
        impulse[10] = 0.25; // well under the ceiling: must come out untouched, delayed
        lim.process(&mut impulse);
        let pos = impulse.iter().position(|&x| x != 0.0).unwrap();
        assert_eq!((pos, impulse[pos]), (10 + 121, 0.25));
    }

    #[test]
    fn gain_reduction_stats_measure_what_was_applied() {
        // A steady sine at +6 dBFS (true peak ≈ sample peak at 1 kHz) into a −1 dBTP ceiling
        // needs ≈ 7.05 dB of reduction (7 dB plus the 0.05 dB margin).
        let rate = 48_000.0;
        let frames = 48_000;
        let sine: Vec<f32> = (0..frames)
            .map(|n| (2.0 * (2.0 * PI * 1000.0 * n as f64 / rate).sin()) as f32)
            .collect();
        let mut lim = TruePeakLimiter::new(1, rate, -1.0, 3.0, 100.0).unwrap();
        lim.process(&mut sine.clone());
        let gr = lim.gain_reduction_db();
        let expected = ebur128_dbtp(&sine, 1, rate) + 1.0 + MARGIN_DB;
        assert!(
            (gr.max_db - expected).abs() < 0.02,
            "max GR {} vs {expected}",
            gr.max_db
        );
        // Everything but the first ~3 ms is limited by the full amount.
        assert!(
            gr.mean_db > expected - 0.1 && gr.mean_db <= gr.max_db,
            "{gr:?}"
        );
        assert_eq!(gr.frames, frames as u64);
    }

    #[test]
    fn rejects_invalid_settings_with_the_offending_value() {
        assert_eq!(
            TruePeakLimiter::new(0, 48_000.0, -1.0, 3.0, 50.0).unwrap_err(),
            LimiterError::NoChannels(0)
        );
        let err = TruePeakLimiter::new(2, -5.0, -1.0, 3.0, 50.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "limiter sample rate must be within 1000..=1536000 Hz, got -5 Hz"
        );
        for (la, rel, ceil) in [
            (1.0, 50.0, -1.0),
            (150.0, 50.0, -1.0),
            (3.0, f64::NAN, -1.0),
            (3.0, 50.0, f64::INFINITY),
        ] {
            assert!(matches!(
                TruePeakLimiter::new(2, 48_000.0, ceil, la, rel),
                Err(LimiterError::Parameter { .. })
            ));
        }
    }

    #[test]
    fn trailing_partial_frame_is_silenced_not_passed_through() {
        let mut lim = TruePeakLimiter::new(2, 48_000.0, -1.0, 3.0, 50.0).unwrap();
        let mut block = vec![4.0f32; 7];
        lim.process(&mut block);
        assert_eq!(block[6], 0.0);
    }
}
