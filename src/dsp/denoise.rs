//! Broadband noise reduction (hiss, room tone, amp noise) in the short-time spectrum.
//!
//! STFT with a sqrt-Hann window on analysis and synthesis at 75 % overlap (perfect
//! reconstruction when the gain is 1). Per bin the a-priori SNR ξ is tracked by the
//! decision-directed rule (Ephraim & Malah 1984), which smooths it over time where the
//! bin holds only noise, so the gain does not flicker there: that flicker is the
//! "musical noise" of plain spectral subtraction. The gain is the power-subtraction
//! (square-root Wiener) rule G = √(ξ/(1+ξ)): in expectation it leaves a bin's music power
//! as it was without the noise, so the long-term spectrum of the music is kept while the
//! noise goes down. It is taken in two steps (Plapous, Marro & Scalart 2006, "TSNR"): the
//! decision-directed ξ lags a frame behind, so its Wiener estimate of this frame's clean
//! power is used as ξ once more; on the benchmark's hiss stems that lowered the pauses
//! 2 dB further and left fewer isolated spectral peaks in them (the warble). Gains are
//! smoothed across neighbouring bins, except that a music bin keeps at least its own gain,
//! and floored at −`reduction_db`, which bounds how far the noise falls and keeps the
//! residue a quieter copy of the same noise rather than a warble.
//!
//! The noise power per bin comes from a [`NoiseProfile`] learned on passages where only
//! the noise plays (the analysis stage finds them). Per bin it is the median of the means
//! of [`PROFILE_CHUNK`] consecutive frames (≈ 0.19 s), not the mean of all frames: a
//! passage that still holds a note's tail or a breath in part of it (a bass DI's last note
//! ringing into the "quiet" end of the track) then does not lift the profile in those bins,
//! which would cut the music there wherever it plays.
//!
//! The decision-directed ξ lags a hit by several frames and, at low SNR, is biased low, so
//! music that sits at the level of the noise (a quiet hi-hat under −43 dBFS hiss, whose
//! hits reach the hiss's level in the mid bands for three or four frames and then decay
//! under it) lost 6–9 dB of its long-term spectrum. Beside the per-bin gain, every band
//! (third octaves from 100 Hz, merged to at least [`BAND_MIN_BINS`] bins) therefore gets the power
//! subtraction of its own frame, G² = (Z − 1)/Z with Z the band's mean posterior SNR: the
//! band's expected output power is then its music's, with no lag and no low-SNR bias. That
//! gain is given only where music is present: where the mean SNR over the band and its
//! [`PRESENCE_NEIGHBOURS`] neighbours either side exceeds the noise's by
//! [`PRESENCE_SIGMAS`] standard deviations (a pooled test over a hundred bins or more that
//! noise alone passes about once in a thousand frames), and the band's own by one. Each bin
//! takes the larger of its own and its band's gain. A band gain is one value over many bins,
//! so it cannot leave the isolated peaks of musical noise, and in the pauses it is off.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use crate::analysis::spectrum::third_octave_band;
use crate::dsp::{Processor, db_to_gain, hann};

/// Decision-directed smoothing of the a-priori SNR (Ephraim & Malah's 0.98).
const DD_ALPHA: f64 = 0.98;
/// A bin whose gain reaches this holds music, not a flicker of the noise: in a noise-only
/// bin the decision-directed ξ passes 1/3 (gain 0.5) about once in e¹⁷ frames.
const MUSIC_GAIN: f64 = 0.5;
/// Frames overlap by 1 − 1/HOPS.
const HOPS: usize = 4;
/// Frames averaged per chunk of the noise profile (the profile is the per-bin median of the
/// chunk means). A mean over 16 frames of noise is within ±25 % (1 σ) of the true power,
/// so the median of such means sits within a few % of it.
const PROFILE_CHUNK: usize = 16;

/// Fewest bins in a band of the band gain: narrower third octaves (the low ones) are merged.
const BAND_MIN_BINS: usize = 4;
/// The band gain starts at this third octave (100 Hz; see [`gain_bands`]).
const BAND_GAIN_FIRST: usize = 10;
/// Bands either side pooled with a band to decide that music is present in it.
const PRESENCE_NEIGHBOURS: usize = 2;
/// The pooled mean posterior SNR must pass the noise's mean by this many of its standard
/// deviations for the band gain to be given.
const PRESENCE_SIGMAS: f64 = 3.0;
/// Neighbouring bins of the sqrt-Hann window overlap: a mean over K bins of noise varies as
/// one over about K/1.5 independent ones.
const BIN_CORRELATION: f64 = 1.5;
/// The presence thresholds are raised by this factor for a profile that is not exact: the
/// median of chunk means sits a few % under the mean noise power (1.06 on neon_drive's
/// hi-hat), which a test over a thousand bins would otherwise take for music.
const PROFILE_MARGIN: f64 = 1.1;

/// FFT length for a sample rate: about 46 ms (2048 at 44.1 kHz), a power of two.
pub fn fft_len(rate: f64) -> usize {
    ((rate * 0.046).max(256.0) as usize).next_power_of_two()
}

fn sqrt_hann(n: usize) -> Vec<f32> {
    hann(n).iter().map(|w| w.sqrt() as f32).collect()
}

/// The band gain's bands for an FFT of `len` at `rate`: bin ranges along third octaves,
/// each at least [`BAND_MIN_BINS`] wide (narrower ones merged upwards, the last one to the
/// top bin), from the 100 Hz band up ([`BAND_GAIN_FIRST`]). Lower down a bin (21.5 Hz at
/// 44.1 kHz) is a third octave wide or more, so a band there spans a bass note and the
/// hiss an octave under it, and its gain passed that hiss (rock_anthem's guitar: 63 Hz
/// band 9.5 dB over the clean one); it would also turn a DC offset the chain leaves (or
/// the decaying step of its high-pass at the start of a file), a steady line in the
/// profile, into a moving one. The per-bin gain serves those bins.
fn gain_bands(len: usize, rate: f64) -> Vec<std::ops::Range<usize>> {
    let bins = len / 2 + 1;
    let bin = |hz: f64| (hz * len as f64 / rate).ceil() as usize;
    let low = bin(third_octave_band(BAND_GAIN_FIRST).low_hz).max(2);
    let mut edges = vec![low];
    for i in BAND_GAIN_FIRST.. {
        let hi = bin(third_octave_band(i).high_hz);
        if hi >= bins {
            break;
        }
        if hi - edges[edges.len() - 1] >= BAND_MIN_BINS {
            edges.push(hi);
        }
    }
    if bins - edges[edges.len() - 1] < BAND_MIN_BINS && edges.len() > 1 {
        edges.pop();
    }
    edges.push(bins);
    edges.windows(2).map(|w| w[0]..w[1]).collect()
}

/// One band of the band gain, with its presence thresholds.
struct GainBand {
    bins: std::ops::Range<usize>,
    /// Bands pooled for the presence test (this one and its neighbours).
    pooled: std::ops::Range<usize>,
    /// Mean posterior SNR of the pooled bins above which music is present.
    pooled_threshold: f64,
    /// Mean posterior SNR of the band's own bins it must also pass.
    own_threshold: f64,
}

fn gain_band_set(len: usize, rate: f64) -> Vec<GainBand> {
    let ranges = gain_bands(len, rate);
    // Mean of K independent unit exponentials: 1 ± 1/√K.
    let threshold = |bins: usize, sigmas: f64| {
        PROFILE_MARGIN * (1.0 + sigmas * (BIN_CORRELATION / bins as f64).sqrt())
    };
    (0..ranges.len())
        .map(|b| {
            let pooled = b.saturating_sub(PRESENCE_NEIGHBOURS)
                ..(b + PRESENCE_NEIGHBOURS + 1).min(ranges.len());
            let pooled_bins = ranges[pooled.start].start..ranges[pooled.end - 1].end;
            GainBand {
                bins: ranges[b].clone(),
                pooled_threshold: threshold(pooled_bins.len(), PRESENCE_SIGMAS),
                own_threshold: threshold(ranges[b].len(), 1.0),
                pooled,
            }
        })
        .collect()
}

/// Noise power per FFT bin (mean over channels), learned from noise-only audio.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseProfile {
    /// Mean |X|² per bin of the windowed, unnormalised FFT of length [`fft_len`].
    pub power: Vec<f64>,
    /// Frames averaged.
    pub frames: usize,
}

/// Accumulates a [`NoiseProfile`] from blocks of noise-only audio.
pub struct ProfileBuilder {
    channels: usize,
    len: usize,
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
    /// Per channel the samples not yet framed.
    pending: Vec<Vec<f32>>,
    sum: Vec<f64>,
    frames: usize,
    /// Frames in `sum` since the last chunk was closed.
    chunk_frames: usize,
    /// The closed chunks' mean power per bin.
    chunks: Vec<Vec<f32>>,
    scratch: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
}

impl ProfileBuilder {
    /// A builder for `channels` interleaved channels at `rate` Hz.
    pub fn new(channels: usize, rate: f64) -> Self {
        let len = fft_len(rate);
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(len);
        ProfileBuilder {
            channels: channels.max(1),
            len,
            window: sqrt_hann(len),
            spectrum: fft.make_output_vec(),
            fft,
            pending: vec![Vec::new(); channels.max(1)],
            sum: vec![0.0; len / 2 + 1],
            frames: 0,
            chunk_frames: 0,
            chunks: Vec::new(),
            scratch: vec![0.0; len],
        }
    }

    /// Adds a stretch of noise-only audio (interleaved). Stretches are framed separately:
    /// call [`ProfileBuilder::end_segment`] between stretches that are not contiguous.
    pub fn push(&mut self, block: &[f32]) {
        let hop = self.len / HOPS;
        for (c, pending) in self.pending.iter_mut().enumerate() {
            pending.extend(
                block
                    .iter()
                    .skip(c)
                    .step_by(self.channels)
                    .map(|v| if v.is_finite() { *v } else { 0.0 }),
            );
            while pending.len() >= self.len {
                for ((s, x), w) in self
                    .scratch
                    .iter_mut()
                    .zip(pending.iter())
                    .zip(&self.window)
                {
                    *s = x * w;
                }
                self.fft
                    .process(&mut self.scratch, &mut self.spectrum)
                    .expect("buffers sized by the plan");
                for (acc, z) in self.sum.iter_mut().zip(&self.spectrum) {
                    *acc += f64::from(z.norm_sqr());
                }
                self.frames += 1;
                self.chunk_frames += 1;
                if self.chunk_frames == PROFILE_CHUNK {
                    let n = PROFILE_CHUNK as f64;
                    self.chunks
                        .push(self.sum.iter().map(|s| (s / n) as f32).collect());
                    self.sum.fill(0.0);
                    self.chunk_frames = 0;
                }
                pending.drain(..hop);
            }
        }
    }

    /// Drops the unframed rest of the current stretch.
    pub fn end_segment(&mut self) {
        self.pending.iter_mut().for_each(Vec::clear);
    }

    /// The profile, or `None` if no whole frame was seen: per bin the median of the chunk
    /// means (a last chunk of at least half a chunk counts), or with no whole chunk the mean
    /// of the frames.
    pub fn finish(mut self) -> Option<NoiseProfile> {
        if self.frames == 0 {
            return None;
        }
        if self.chunks.is_empty() || 2 * self.chunk_frames >= PROFILE_CHUNK {
            let n = self.chunk_frames.max(1) as f64;
            self.chunks
                .push(self.sum.iter().map(|s| (s / n) as f32).collect());
        }
        let mut column = vec![0.0f32; self.chunks.len()];
        let power = (0..self.sum.len())
            .map(|k| {
                for (c, chunk) in column.iter_mut().zip(&self.chunks) {
                    *c = chunk[k];
                }
                column.sort_unstable_by(f32::total_cmp);
                let m = column.len();
                // The lower median on an even count: noise spread is one-sided upwards.
                f64::from(column[(m - 1) / 2])
            })
            .collect();
        Some(NoiseProfile {
            power,
            frames: self.frames / self.channels,
        })
    }
}

struct ChannelState {
    input: Vec<f32>,
    output: Vec<f32>,
    /// Previous frame's Wiener gain² · γ per bin (the decision-directed memory).
    prev: Vec<f64>,
}

/// The noise reducer. Latency: one FFT length.
pub struct Denoiser {
    channels: usize,
    len: usize,
    rate: f64,
    floor: f64,
    noise: Vec<f64>,
    window: Vec<f32>,
    fwd: Arc<dyn RealToComplex<f32>>,
    inv: Arc<dyn ComplexToReal<f32>>,
    state: Vec<ChannelState>,
    pos: usize,
    frame: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    gain: Vec<f64>,
    smooth: Vec<f64>,
    /// Per bin this frame's posterior SNR |X|²/noise.
    gamma: Vec<f64>,
    bands: Vec<GainBand>,
    /// Per band this frame's mean posterior SNR.
    band_snr: Vec<f64>,
}

impl Denoiser {
    /// A reducer for `channels` interleaved channels at `rate` Hz that lowers the noise of
    /// `profile` (learned at the same rate) by up to `reduction_db`.
    pub fn new(channels: usize, rate: f64, profile: &NoiseProfile, reduction_db: f64) -> Self {
        let len = fft_len(rate);
        let mut planner = RealFftPlanner::<f32>::new();
        let fwd = planner.plan_fft_forward(len);
        let inv = planner.plan_fft_inverse(len);
        let bins = len / 2 + 1;
        let mut noise = profile.power.clone();
        noise.resize(bins, *profile.power.last().unwrap_or(&0.0));
        let channels = channels.max(1);
        let bands = gain_band_set(len, rate);
        Denoiser {
            channels,
            len,
            rate,
            floor: db_to_gain(-reduction_db.abs()),
            noise: noise.iter().map(|p| p.max(1e-30)).collect(),
            window: sqrt_hann(len),
            spectrum: fwd.make_output_vec(),
            fwd,
            inv,
            state: (0..channels)
                .map(|_| ChannelState {
                    input: vec![0.0; len],
                    output: vec![0.0; len],
                    prev: vec![0.0; bins],
                })
                .collect(),
            pos: 0,
            frame: vec![0.0; len],
            gain: vec![0.0; bins],
            smooth: vec![0.0; bins],
            gamma: vec![0.0; bins],
            band_snr: vec![0.0; bands.len()],
            bands,
        }
    }

    fn run_frame(&mut self, c: usize) {
        let len = self.len;
        let hop = len / HOPS;
        let st = &mut self.state[c];
        for ((f, x), w) in self.frame.iter_mut().zip(&st.input).zip(&self.window) {
            *f = x * w;
        }
        self.fwd
            .process(&mut self.frame, &mut self.spectrum)
            .expect("buffers sized by the plan");
        for ((g, z), n) in self.gamma.iter_mut().zip(&self.spectrum).zip(&self.noise) {
            *g = f64::from(z.norm_sqr()) / n;
        }
        for (k, &gamma) in self.gamma.iter().enumerate() {
            let xi = DD_ALPHA * st.prev[k] + (1.0 - DD_ALPHA) * (gamma - 1.0).max(0.0);
            let wiener = xi / (1.0 + xi);
            // The memory is the Wiener estimate of the clean power, as in Ephraim & Malah;
            // it lets ξ fall within a few frames when a note stops.
            let clean = wiener * wiener * gamma;
            st.prev[k] = clean;
            // Second step (TSNR): that estimate, of this frame, is the a-priori SNR.
            let xi2 = clean;
            self.gain[k] = (xi2 / (1.0 + xi2)).sqrt();
        }
        // The band gain where music is present (see the module doc).
        for (z, band) in self.band_snr.iter_mut().zip(&self.bands) {
            *z = self.gamma[band.bins.clone()].iter().sum::<f64>() / band.bins.len() as f64;
        }
        for (band, &own) in self.bands.iter().zip(&self.band_snr) {
            let pooled = band.pooled.clone();
            let (sum, bins) = self.bands[pooled.clone()]
                .iter()
                .zip(&self.band_snr[pooled])
                .fold((0.0, 0), |(s, n), (b, z)| {
                    (s + z * b.bins.len() as f64, n + b.bins.len())
                });
            if sum / bins as f64 > band.pooled_threshold && own > band.own_threshold {
                // Power subtraction over the band: its expected output is its music's power.
                let g = ((own - 1.0) / own).sqrt();
                for k in band.bins.clone() {
                    self.gain[k] = self.gain[k].max(g);
                }
            }
        }
        // Smooth across bins (1-2-1), then floor. Music bins keep at least their own gain:
        // a partial is two or three bins wide, and averaging its skirts with the floored
        // noise beside them took 2 dB off a guitar's and a tone's third-octave bands.
        let n = self.gain.len();
        for k in 0..n {
            let g = self.gain[k];
            let l = self.gain[k.saturating_sub(1)];
            let r = self.gain[(k + 1).min(n - 1)];
            let s = 0.25 * l + 0.5 * g + 0.25 * r;
            let s = if g >= MUSIC_GAIN { s.max(g) } else { s };
            self.smooth[k] = s.max(self.floor);
        }
        for (z, g) in self.spectrum.iter_mut().zip(&self.smooth) {
            *z *= *g as f32;
        }
        // The inverse transform wants real DC and Nyquist bins.
        self.spectrum[0].im = 0.0;
        self.spectrum[n - 1].im = 0.0;
        self.inv
            .process(&mut self.spectrum, &mut self.frame)
            .expect("buffers sized by the plan");
        // sqrt-Hann twice is Hann, which sums to HOPS/2 at this overlap; the FFT pair scales by len.
        let scale = 2.0 / (HOPS as f32 * len as f32);
        st.output.copy_within(hop.., 0);
        st.output[len - hop..].fill(0.0);
        for ((o, f), w) in st.output.iter_mut().zip(&self.frame).zip(&self.window) {
            *o += f * w * scale;
        }
        st.input.copy_within(hop.., 0);
    }
}

impl Processor for Denoiser {
    fn reset(&mut self) {
        for st in &mut self.state {
            st.input.fill(0.0);
            st.output.fill(0.0);
            st.prev.fill(0.0);
        }
        self.pos = 0;
    }

    /// The profile is tied to the rate it was learned at; a new rate only clears state.
    fn set_sample_rate(&mut self, rate: f64) {
        self.rate = rate;
        self.reset();
    }

    fn process(&mut self, block: &mut [f32]) {
        let hop = self.len / HOPS;
        let base = self.len - hop;
        for frame in block.chunks_exact_mut(self.channels) {
            for (c, s) in frame.iter_mut().enumerate() {
                let st = &mut self.state[c];
                st.input[base + self.pos] = if s.is_finite() { *s } else { 0.0 };
                *s = st.output[self.pos];
            }
            self.pos += 1;
            if self.pos == hop {
                for c in 0..self.channels {
                    self.run_frame(c);
                }
                self.pos = 0;
            }
        }
    }

    fn latency(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::spectrum::third_octave_band;
    use crate::dsp::testsig::*;

    const RATE: f64 = 44_100.0;

    /// `x` through a denoiser with a 20 dB floor, its latency taken off.
    fn denoised(x: &[f64], profile: &NoiseProfile) -> Vec<f64> {
        let mut d = Denoiser::new(1, RATE, profile, 20.0);
        let lat = d.latency();
        let mut padded = x.to_vec();
        padded.extend(std::iter::repeat_n(0.0, lat));
        run(&mut d, &padded, 1024).split_off(lat)
    }

    /// Third-octave band powers (dB) of `x` (Welch, Hann, 8192 points), bands 50 Hz–16 kHz.
    fn third_octaves(x: &[f64]) -> Vec<f64> {
        let n = 8192;
        let mut planner = RealFftPlanner::<f64>::new();
        let fft = planner.plan_fft_forward(n);
        let mut psd = vec![0.0; n / 2 + 1];
        let mut buf = vec![0.0; n];
        let mut out = fft.make_output_vec();
        let window = hann(n);
        for start in (0..x.len().saturating_sub(n)).step_by(n / 2) {
            for (i, (b, w)) in buf.iter_mut().zip(&window).enumerate() {
                *b = x[start + i] * w;
            }
            fft.process(&mut buf, &mut out).unwrap();
            for (p, z) in psd.iter_mut().zip(&out) {
                *p += z.norm_sqr();
            }
        }
        (7..=29)
            .map(|i| {
                let b = third_octave_band(i);
                let lo = (b.low_hz * n as f64 / RATE).ceil() as usize;
                let hi = (b.high_hz * n as f64 / RATE).floor() as usize;
                10.0 * psd[lo..=hi].iter().sum::<f64>().max(1e-30).log10()
            })
            .collect()
    }

    /// A one-pole low-pass over white noise: a breathy, strummed bed with energy to the top.
    fn coloured(rng: &mut Rng, n: usize, rms: f64) -> Vec<f64> {
        let w = rng.noise(n, 1.0);
        let mut y = vec![0.0; n];
        let mut s = 0.0;
        for (o, v) in y.iter_mut().zip(w) {
            s = 0.7 * s + v;
            *o = s;
        }
        let p = power(&y).sqrt();
        y.iter().map(|v| v * rms / p).collect()
    }

    /// Asserts that `y` (the denoised `x` = `music` + hiss) is ≥ 15 dB quieter than `x` in
    /// the pauses at least `edge_s` from the music (`active` marks where it plays), and
    /// that the long-term third-octave spectrum of the active parts stays within 1 dB of
    /// `music`'s in every band from the `skip_bands`-th on.
    fn assert_hiss_down_music_kept(
        x: &[f64],
        y: &[f64],
        music: &[f64],
        active: &[bool],
        edge_s: f64,
        skip_bands: usize,
    ) {
        let n = x.len();
        let edge = (edge_s * RATE) as usize;
        let quiet: Vec<usize> = (edge..n - edge)
            .filter(|&i| !active[i - edge] && !active[i + edge] && !active[i])
            .collect();
        let before: f64 = quiet.iter().map(|&i| x[i] * x[i]).sum();
        let after: f64 = quiet.iter().map(|&i| y[i] * y[i]).sum();
        let reduction = 10.0 * (before / after).log10();
        assert!(reduction >= 15.0, "hiss lowered by {reduction:.1} dB");
        let pick =
            |v: &[f64]| -> Vec<f64> { (0..n).filter(|&i| active[i]).map(|i| v[i]).collect() };
        let clean = third_octaves(&pick(music));
        let out = third_octaves(&pick(y));
        for (k, (c, o)) in clean.iter().zip(&out).enumerate().skip(skip_bands) {
            let f = third_octave_band(k + 7).centre_hz;
            assert!(
                (o - c).abs() <= 1.0,
                "band {f:.0} Hz: {:.2} dB from the clean music",
                o - c
            );
        }
    }

    #[test]
    fn a_note_ringing_into_the_profile_passage_does_not_lift_the_profile() {
        // 3 s of white hiss at −50 dBFS; over its first second a 55 Hz note decays from
        // −20 dBFS (a bass's last note ringing into the quiet end of a track).
        let mut rng = Rng(5);
        let n = (RATE * 3.0) as usize;
        let rms = 10f64.powf(-50.0 / 20.0);
        let hiss = rng.noise(n, rms);
        let note = sine(n, RATE, 55.0, 0.1 * 2f64.sqrt(), 0.0);
        let x: Vec<f64> = (0..n)
            .map(|i| hiss[i] + note[i] * (-(i as f64) / (0.15 * RATE)).exp())
            .collect();
        let mut pb = ProfileBuilder::new(1, RATE);
        pb.push(&to_f32(&x));
        let profile = pb.finish().unwrap();
        // The hiss alone: E|X|² = rms² · Σw² = rms² · len/2 for a sqrt-Hann window.
        let len = fft_len(RATE);
        let expected = rms * rms * len as f64 / 2.0;
        let bin = (55.0 * len as f64 / RATE).round() as usize;
        for k in [bin - 1, bin, bin + 1, 100, 500] {
            let db = 10.0 * (profile.power[k] / expected).log10();
            assert!(db.abs() < 1.5, "bin {k}: {db:.1} dB off the hiss");
        }
    }

    #[test]
    fn unity_gain_reconstructs_with_a_latency_of_one_frame() {
        // A profile of digital silence: every bin is "music", gains are 1.
        let len = fft_len(RATE);
        let profile = NoiseProfile {
            power: vec![1e-20; len / 2 + 1],
            frames: 1,
        };
        let mut d = Denoiser::new(1, RATE, &profile, 20.0);
        assert_eq!(d.latency(), len);
        let mut rng = Rng(3);
        let x = rng.noise(20_000, 0.1);
        let y = run(&mut d, &x, 333);
        let err = (len..x.len())
            .map(|i| (y[i] - x[i - len]).abs())
            .fold(0.0, f64::max);
        assert!(err < 1e-5, "reconstruction error {err}");
    }

    #[test]
    fn hiss_at_minus_50_dbfs_falls_15_db_in_pauses_and_music_keeps_its_spectrum() {
        let mut rng = Rng(11);
        let n = (RATE * 12.0) as usize;
        // Music: 1.5 s phrases of harmonic notes over a strummed bed, 0.5 s pauses.
        let phrase = (RATE * 1.5) as usize;
        let pause = (RATE * 0.5) as usize;
        let bed = coloured(&mut rng, n, 0.03);
        let mut music = vec![0.0; n];
        let mut active = vec![false; n];
        let mut start = 0;
        let mut note = 0;
        while start + phrase <= n {
            let f0 = [196.0, 220.0, 246.9, 293.7][note % 4];
            let tone = (1..=10)
                .map(|h| sine(phrase, RATE, f0 * h as f64, 0.1 / h as f64, h as f64))
                .fold(vec![0.0; phrase], |acc, s| {
                    acc.iter().zip(s).map(|(a, b)| a + b).collect()
                });
            for i in 0..phrase {
                let fade = ((i.min(phrase - 1 - i)) as f64 / (0.01 * RATE)).min(1.0);
                music[start + i] = fade * (tone[i] + bed[start + i]);
                active[start + i] = true;
            }
            start += phrase + pause;
            note += 1;
        }
        let hiss = rng.noise(n, 10f64.powf(-50.0 / 20.0));
        let x: Vec<f64> = music.iter().zip(&hiss).map(|(m, h)| m + h).collect();
        // Profile from the pauses (as the analysis stage would hand them over).
        let mut pb = ProfileBuilder::new(1, RATE);
        let mut i = 0;
        while i < n {
            let j = (i..n).find(|&k| active[k]).unwrap_or(n);
            if j > i {
                pb.push(&to_f32(&x[i..j]));
                pb.end_segment();
            }
            i = (j..n).find(|&k| !active[k]).unwrap_or(n);
        }
        let profile = pb.finish().unwrap();
        let y = &denoised(&x, &profile);
        // Pauses, away from the phrase edges (50 ms); every band of the music.
        assert_hiss_down_music_kept(&x, y, &music, &active, 0.05, 0);
    }

    #[test]
    fn a_quiet_sustained_tone_keeps_its_partials_while_the_hiss_falls_15_db() {
        // A bowed-string-like tone (partials of 196 Hz, −3 dB an octave) at −44 dBFS over
        // white hiss at −50 dBFS: 6 dB over the noise broadband, as a quiet violin or bass DI
        // arrives. Its partials are narrow lines: smoothing the gains across bins must not
        // shave their skirts. 8 s of tone, 2 s of hiss alone to learn the profile from.
        let mut rng = Rng(21);
        let (play, rest) = ((RATE * 8.0) as usize, (RATE * 2.0) as usize);
        let n = play + rest;
        let mut music = vec![0.0; n];
        for h in 1..=12 {
            let f = 196.0 * h as f64 * (1.0 + 0.0007 * h as f64);
            let p = sine(play, RATE, f, 1.0 / (h as f64).sqrt(), 0.3 * h as f64);
            for (m, v) in music.iter_mut().zip(p) {
                *m += v;
            }
        }
        let scale = 10f64.powf(-44.0 / 20.0) / power(&music[..play]).sqrt();
        music.iter_mut().for_each(|m| *m *= scale);
        let hiss = rng.noise(n, 10f64.powf(-50.0 / 20.0));
        let x: Vec<f64> = music.iter().zip(&hiss).map(|(m, h)| m + h).collect();
        let mut pb = ProfileBuilder::new(1, RATE);
        pb.push(&to_f32(&x[play..]));
        let profile = pb.finish().unwrap();
        let y = &denoised(&x, &profile);
        let edge = (0.1 * RATE) as usize;
        let reduction = 10.0 * (power(&x[play + edge..]) / power(&y[play + edge..])).log10();
        assert!(reduction >= 15.0, "hiss lowered by {reduction:.1} dB");
        // Bands that hold a partial (music 10 dB or more over the hiss in the band).
        let clean = third_octaves(&music[edge..play - edge]);
        let noise = third_octaves(&hiss[edge..play - edge]);
        let out = third_octaves(&y[edge..play - edge]);
        let mut bands = 0;
        for (k, ((c, o), h)) in clean.iter().zip(&out).zip(&noise).enumerate() {
            if c - h < 10.0 {
                continue;
            }
            bands += 1;
            let f = third_octave_band(k + 7).centre_hz;
            assert!(
                (o - c).abs() <= 1.0,
                "band {f:.0} Hz: {:.2} dB from the clean tone",
                o - c
            );
        }
        assert!(bands >= 6, "{bands} bands hold a partial");
    }

    #[test]
    fn quiet_hits_at_the_level_of_the_hiss_keep_their_spectrum_while_the_hiss_falls_15_db() {
        // A quiet hi-hat under hiss: white-noise hits (30 ms decay) on 8ths at 120 bpm whose
        // first 20 ms are 6 dB over white hiss at −45 dBFS, so that they sink under it within
        // a few frames. 1.75 s bars of hits, 0.75 s rests; the last 2 s hiss alone for the
        // profile. The decision-directed gain alone took these bands down 4–7 dB.
        let mut rng = Rng(31);
        let (bar, rest) = ((RATE * 1.75) as usize, (RATE * 0.75) as usize);
        let bars = 5;
        let play = bars * (bar + rest);
        let n = play + (RATE * 2.0) as usize;
        let hiss_rms = 10f64.powf(-45.0 / 20.0);
        // Peak RMS of a hit from its mean square over the first 20 ms of e^(−2t/τ).
        let tau: f64 = 0.03;
        let first = (1.0 - (-2.0 * 0.02 / tau).exp()) * tau / (2.0 * 0.02);
        let peak = hiss_rms * 2.0 / first.sqrt();
        let mut music = vec![0.0; n];
        let mut active = vec![false; n];
        let step = (RATE * 0.25) as usize;
        for b in 0..bars {
            let start = b * (bar + rest);
            active[start..start + bar].fill(true);
            for onset in (start..start + bar - step / 2).step_by(step) {
                for i in 0..step.min(n - onset) {
                    let env = (-(i as f64) / (tau * RATE)).exp();
                    music[onset + i] += peak * env * rng.gauss();
                }
            }
        }
        let hiss = rng.noise(n, hiss_rms);
        let x: Vec<f64> = music.iter().zip(&hiss).map(|(m, h)| m + h).collect();
        let mut pb = ProfileBuilder::new(1, RATE);
        pb.push(&to_f32(&x[play..]));
        let profile = pb.finish().unwrap();
        let y = &denoised(&x, &profile);
        // The rests, 100 ms from the bars (the hits have decayed 30 dB under the hiss by
        // then); the bands from 100 Hz up (the hits are white: every band holds them at about
        // their broadband SNR).
        assert_hiss_down_music_kept(
            &x[..play],
            &y[..play],
            &music[..play],
            &active[..play],
            0.1,
            3,
        );
    }
}
