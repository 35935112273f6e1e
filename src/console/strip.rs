//! A channel strip: repair, dynamic EQ, polarity, trim, fader (with its automation), width
//! and pan, from a mono or stereo stem to the stereo mix bus.
//!
//! Automation (fader and dynamic EQ) plays sample-accurately from each sample's frame
//! index ([`crate::dsp::automation`]): the same session gives the same samples whatever
//! the block size.

use crate::dsp::automation::{AutomatedBell, Automation};
use crate::dsp::biquad::{Biquad, BiquadKind};
use crate::dsp::declick::Declicker;
use crate::dsp::declip::Declipper;
use crate::dsp::delay::Delay;
use crate::dsp::denoise::{Denoiser, NoiseProfile, ProfileBuilder};
use crate::dsp::gate::{Gate, GateSettings};
use crate::dsp::hum::HumRemover;
use crate::dsp::{Processor, db_to_gain, pan};
use crate::io::spool::Spool;
use crate::session::{GainPoint, Repair, Strip};

/// Corner of the DC-removing high-pass, Hz: below any instrument's fundamental, and its
/// time constant (≈ 30 ms) is short enough to settle on the first note.
pub const DC_HIGHPASS_HZ: f64 = 5.0;
/// Most noise-only audio the denoiser learns its profile from, s.
const MAX_PROFILE_S: f64 = 30.0;
/// Audio run through the stages before the denoiser ahead of each profile passage, so
/// their filters have settled, s.
const PROFILE_PREROLL_S: f64 = 0.5;

type Block = Box<dyn Processor + Send>;

/// The repair stage of a strip, run on the stem before anything else: the session's
/// [`Repair`] settings as a chain of DSP blocks, in signal order. It reads its stem ahead
/// by the chain's latency (plus any advance asked for), so its output lines up with the
/// input, shifted only by the session's `delay_samples`.
pub struct RepairChain {
    blocks: Vec<Block>,
    /// Frames read ahead of the output position.
    lead: u64,
    /// Next input frame to read.
    next: u64,
    primed: bool,
}

/// The stages before the denoiser (declip, DC, high-pass, declick, hum): also run over the
/// profile passages so the denoiser learns the noise as it will meet it.
fn front_blocks(r: &Repair, channels: usize, rate: f64) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    if let Some(d) = &r.declip {
        let frame_s = d.frame_ms.map_or(crate::dsp::declip::FRAME_S, |f| f / 1e3);
        blocks.push(Box::new(Declipper::with_frame(
            channels, rate, d.rail, d.method, frame_s,
        )));
    }
    let hp = |f: f64| Biquad::new(channels, rate, BiquadKind::butterworth_high_pass(), f).ok();
    if r.dc
        && let Some(b) = hp(DC_HIGHPASS_HZ)
    {
        blocks.push(Box::new(b));
    }
    if let Some(b) = r.highpass_hz.and_then(hp) {
        blocks.push(Box::new(b));
    }
    if let Some(d) = &r.declick {
        blocks.push(Box::new(Declicker::new(channels, d.threshold)));
    }
    if let Some(h) = &r.hum {
        blocks.push(Box::new(HumRemover::new(
            channels,
            rate,
            h.mains_hz,
            h.harmonics,
        )));
    }
    blocks
}

fn latency(blocks: &[Block]) -> u64 {
    blocks.iter().map(|b| b.latency() as u64).sum()
}

/// Learns the noise profile from the passages `segments` (s) of `stem`, after the stages
/// that come before the denoiser. `None` when the passages hold no whole FFT frame.
fn learn_profile(
    r: &Repair,
    segments: &[[f64; 2]],
    stem: &Spool,
    rate: f64,
) -> std::io::Result<Option<NoiseProfile>> {
    let ch = stem.channels();
    let mut builder = ProfileBuilder::new(ch, rate);
    let mut budget = (MAX_PROFILE_S * rate) as u64;
    for &[a, b] in segments {
        let start = (a.max(0.0) * rate) as u64;
        let end = ((b * rate) as u64).min(stem.frames()).min(start + budget);
        if end <= start {
            continue;
        }
        budget -= end - start;
        let mut front = front_blocks(r, ch, rate);
        let lat = latency(&front);
        let from = start.saturating_sub((PROFILE_PREROLL_S * rate) as u64);
        // Processed frame t is input frame t − lat: keep outputs for inputs start..end.
        let mut t = from;
        let mut buf = vec![0.0f32; 4096 * ch];
        while t < end + lat {
            let n = (end + lat - t).min(4096) as usize;
            let buf = &mut buf[..n * ch];
            stem.read(t, buf)?;
            for b in &mut front {
                b.process(buf);
            }
            let keep_from = (start + lat).max(t);
            if keep_from < t + n as u64 {
                builder.push(&buf[(keep_from - t) as usize * ch..]);
            }
            t += n as u64;
        }
        builder.end_segment();
        if budget == 0 {
            break;
        }
    }
    Ok(builder.finish())
}

impl RepairChain {
    /// The chain for `repair` on `stem` at `rate` Hz, or `None` when every repair is off
    /// (then the stem is read as it is, bit for bit). Reads the stem to learn a noise
    /// profile when the denoiser is on.
    pub fn new(repair: &Repair, stem: &Spool, rate: u32) -> std::io::Result<Option<RepairChain>> {
        if repair.is_off() {
            return Ok(None);
        }
        let rate = f64::from(rate);
        let ch = stem.channels();
        let mut blocks = front_blocks(repair, ch, rate);
        if let Some(d) = &repair.denoise
            && let Some(profile) = learn_profile(repair, &d.profile_s, stem, rate)?
        {
            blocks.push(Box::new(Denoiser::new(ch, rate, &profile, d.reduction_db)));
        }
        if let Some(g) = &repair.gate {
            let settings = GateSettings {
                threshold_db: g.threshold_db,
                hysteresis_db: g.hysteresis_db,
                range_db: g.range_db,
                attack_ms: g.attack_ms,
                hold_ms: g.hold_ms,
                release_ms: g.release_ms,
            };
            blocks.push(Box::new(Gate::new(ch, rate, settings)));
        }
        // A shift earlier is a read further ahead plus the fractional rest as a delay.
        let shift = repair.delay_samples;
        let ahead = if shift < 0.0 { (-shift).ceil() } else { 0.0 };
        if shift != 0.0 {
            blocks.push(Box::new(Delay::new(ch, shift + ahead)));
        }
        Ok(Some(RepairChain {
            lead: latency(&blocks) + ahead as u64,
            blocks,
            next: 0,
            primed: false,
        }))
    }

    /// Frames the chain reads ahead (its blocks' latency plus any advance).
    pub fn lead(&self) -> u64 {
        self.lead
    }

    /// Fills `out` with the repaired frames of `stem` from output frame `pos` on. Calls
    /// must be sequential (each `pos` where the last one ended).
    pub fn read(&mut self, stem: &Spool, pos: u64, out: &mut [f32]) -> std::io::Result<()> {
        let ch = stem.channels();
        if !self.primed {
            // Run the first `lead` frames through and drop what comes out (the latency).
            let mut buf = vec![0.0f32; 4096 * ch];
            let mut t = 0;
            while t < self.lead {
                let n = (self.lead - t).min(4096) as usize;
                let buf = &mut buf[..n * ch];
                stem.read(t, buf)?;
                self.process(buf);
                t += n as u64;
            }
            self.next = self.lead;
            self.primed = true;
        }
        debug_assert_eq!(self.next, pos + self.lead, "sequential reads");
        stem.read(self.next, out)?;
        self.process(out);
        self.next += (out.len() / ch) as u64;
        Ok(())
    }

    fn process(&mut self, buf: &mut [f32]) {
        for b in &mut self.blocks {
            b.process(buf);
        }
    }
}

/// A strip ready to play: the session's settings turned into gains and filters. Plays
/// sequentially from the song's first frame.
pub struct ChannelStrip {
    channels: usize,
    /// Gain from the input's left (or mono) channel to bus left and right.
    left: (f32, f32),
    /// Gain from the input's right channel to bus left and right (stereo inputs only).
    right: (f32, f32),
    /// The dynamic EQ's bells, in order.
    bells: Vec<AutomatedBell>,
    /// Fader automation (empty: none).
    automation: Automation,
    /// Per-frame fader automation gains of the current block.
    gains: Vec<f32>,
    /// Frame index of the next sample.
    pos: u64,
}

fn curve(points: &[GainPoint], rate: f64) -> Automation {
    Automation::new(points.iter().map(|p| (p.time_s, p.gain_db)), rate)
}

impl ChannelStrip {
    /// Builds the strip for a stem with `channels` (1 or 2) channels at `rate` Hz. A bell
    /// above what the rate holds is left out (the session validates against 0.45·rate).
    pub fn new(strip: &Strip, channels: usize, rate: u32) -> Self {
        let fs = f64::from(rate);
        // The static bells are bells held at one gain; then the keyed ones.
        let fixed = strip.eq.iter().map(|b| {
            let gain = [GainPoint {
                time_s: 0.0,
                gain_db: b.gain_db,
            }];
            (b.freq_hz, b.q, curve(&gain, fs))
        });
        let keyed = strip
            .dynamic_eq
            .iter()
            .map(|b| (b.freq_hz, b.q, curve(&b.points, fs)));
        let bells = fixed
            .chain(keyed)
            .filter_map(|(f, q, gain)| AutomatedBell::new(channels, fs, f, q, gain))
            .collect();
        let automation = curve(&strip.automation, fs);
        let sign = if strip.polarity_inverted { -1.0 } else { 1.0 };
        let g = if strip.mute {
            0.0
        } else {
            sign * db_to_gain(strip.trim_db + strip.fader_db)
        };
        if channels == 1 {
            let (l, r) = pan::constant_power(strip.pan);
            return ChannelStrip {
                channels,
                left: ((g * l) as f32, (g * r) as f32),
                right: (0.0, 0.0),
                bells,
                automation,
                gains: Vec::new(),
                pos: 0,
            };
        }
        // Width as mid/side: L' = m + w·s, R' = m − w·s, folded into a 2×2 matrix,
        // then the balance control.
        let w = strip.width;
        let (bl, br) = pan::balance(strip.pan);
        let a = 0.5 * (1.0 + w);
        let b = 0.5 * (1.0 - w);
        ChannelStrip {
            channels,
            left: ((g * bl * a) as f32, (g * br * b) as f32),
            right: ((g * bl * b) as f32, (g * br * a) as f32),
            bells,
            automation,
            gains: Vec::new(),
            pos: 0,
        }
    }

    /// Plays the next block: runs `input` (interleaved, the stem's channel count; changed in
    /// place by the dynamic EQ) through the strip, adds the result to the stereo `bus`, and
    /// writes it alone into `solo` when given (for `--stems-out`).
    pub fn mix_into(&mut self, input: &mut [f32], bus: &mut [f32], mut solo: Option<&mut [f32]>) {
        let frames = input.len() / self.channels;
        for b in &mut self.bells {
            b.process(input);
        }
        let ride = !self.automation.is_empty();
        if ride {
            self.gains.resize(frames, 1.0);
            self.automation.fill_gains(self.pos, &mut self.gains);
        }
        self.pos += frames as u64;
        for (i, (frame, out)) in input
            .chunks_exact(self.channels)
            .zip(bus.chunks_exact_mut(2))
            .enumerate()
        {
            let x = frame[0];
            let y = if self.channels == 2 { frame[1] } else { 0.0 };
            let mut l = x * self.left.0 + y * self.right.0;
            let mut r = x * self.left.1 + y * self.right.1;
            if ride {
                l *= self.gains[i];
                r *= self.gains[i];
            }
            out[0] += l;
            out[1] += r;
            if let Some(s) = solo.as_deref_mut() {
                s[2 * i] = l;
                s[2 * i + 1] = r;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testsig::spool;
    use crate::session::{DeclipRepair, HumRepair};

    fn play(chain: &mut RepairChain, stem: &Spool, block: usize) -> Vec<f32> {
        let ch = stem.channels();
        let mut out = vec![0.0; stem.frames() as usize * ch];
        let mut pos = 0;
        for chunk in out.chunks_mut(block * ch) {
            chain.read(stem, pos, chunk).unwrap();
            pos += (chunk.len() / ch) as u64;
        }
        out
    }

    #[test]
    fn no_repair_builds_no_chain() {
        let stem = spool(&[0.1, 0.2], 1);
        assert!(
            RepairChain::new(&Repair::default(), &stem, 48_000)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_shift_earlier_lines_up_exactly_and_latency_is_compensated() {
        let data: Vec<f32> = (0..30_000)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let stem = spool(&data, 2);
        // Declip at a rail nothing reaches (latency, no change) plus a 3-sample advance.
        let repair = Repair {
            declip: Some(DeclipRepair {
                rail: 1.0,
                method: Default::default(),
                frame_ms: None,
            }),
            delay_samples: -3.0,
            ..Repair::default()
        };
        let mut chain = RepairChain::new(&repair, &stem, 48_000).unwrap().unwrap();
        let out = play(&mut chain, &stem, 1000);
        assert_eq!(&out[..out.len() - 6], &data[6..]);
        assert!(out[out.len() - 6..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn hum_chain_is_deterministic_across_block_sizes() {
        let data: Vec<f32> = (0..96_000)
            .map(|i| (0.3 * (i as f64 * 2.0 * std::f64::consts::PI * 50.0 / 48_000.0).sin()) as f32)
            .collect();
        let stem = spool(&data, 1);
        let repair = Repair {
            hum: Some(HumRepair {
                mains_hz: 50.0,
                harmonics: 4,
            }),
            dc: true,
            ..Repair::default()
        };
        let a = play(
            &mut RepairChain::new(&repair, &stem, 48_000).unwrap().unwrap(),
            &stem,
            4096,
        );
        let b = play(
            &mut RepairChain::new(&repair, &stem, 48_000).unwrap().unwrap(),
            &stem,
            999,
        );
        assert_eq!(a, b);
        let tail: f64 = a[48_000..]
            .iter()
            .map(|v| f64::from(*v).powi(2))
            .sum::<f64>()
            / 48_000.0;
        assert!(tail < 1e-6, "hum left: {tail}");
    }

    #[test]
    fn stereo_at_unity_passes_through_and_width_zero_is_mono() {
        let strip = Strip::default();
        let mut s = ChannelStrip::new(&strip, 2, 48_000);
        let input = [0.5, -0.25, 0.1, 0.3];
        let mut bus = [0.0; 4];
        s.mix_into(&mut input.clone(), &mut bus, None);
        assert_eq!(bus, input);
        let mut mono = ChannelStrip::new(
            &Strip {
                width: 0.0,
                ..Strip::default()
            },
            2,
            48_000,
        );
        let mut bus = [0.0; 4];
        mono.mix_into(&mut input.clone(), &mut bus, None);
        assert_eq!(bus[0], bus[1]);
        assert!((bus[0] - 0.125).abs() < 1e-7);
    }

    #[test]
    fn polarity_mute_and_centre_pan() {
        let mut inv = ChannelStrip::new(
            &Strip {
                polarity_inverted: true,
                ..Strip::default()
            },
            1,
            48_000,
        );
        let mut bus = [0.0; 2];
        inv.mix_into(&mut [1.0], &mut bus, None);
        assert!((bus[0] + std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6 && bus[0] == bus[1]);
        let mut muted = ChannelStrip::new(
            &Strip {
                mute: true,
                ..Strip::default()
            },
            1,
            48_000,
        );
        let mut bus = [0.0; 2];
        let mut solo = [9.0; 2];
        muted.mix_into(&mut [1.0], &mut bus, Some(&mut solo));
        assert_eq!((bus, solo), ([0.0; 2], [0.0; 2]));
    }

    #[test]
    fn fader_automation_is_sample_accurate_and_block_independent() {
        let strip = Strip {
            automation: vec![
                GainPoint {
                    time_s: 0.001,
                    gain_db: 0.0,
                },
                GainPoint {
                    time_s: 0.003,
                    gain_db: -20.0,
                },
            ],
            ..Strip::default()
        };
        // At 1 kHz: frame 1 on the first point, 2 halfway (−10 dB), 3 on the second.
        let input = [1.0f32; 10];
        let mut whole = [0.0; 10];
        ChannelStrip::new(&strip, 2, 1000).mix_into(&mut input.clone(), &mut whole, None);
        let want = [1.0, 1.0, 10f32.powf(-0.5), 0.1, 0.1];
        for (k, w) in want.iter().enumerate() {
            assert!(
                (whole[2 * k] - w).abs() < 1e-6,
                "frame {k}: {}",
                whole[2 * k]
            );
        }
        let mut parts = [0.0; 10];
        let mut s = ChannelStrip::new(&strip, 2, 1000);
        s.mix_into(&mut input[..6].to_vec(), &mut parts[..6], None);
        s.mix_into(&mut input[6..].to_vec(), &mut parts[6..], None);
        assert_eq!(parts, whole);
    }

    #[test]
    fn a_static_bell_cuts_its_band_by_its_gain_and_leaves_the_rest() {
        use crate::dsp::testsig::{sine, to_f32, tone_power};
        use crate::session::Bell;
        let rate = 48_000.0;
        let strip = Strip {
            eq: vec![Bell {
                freq_hz: 1000.0,
                q: 1.0,
                gain_db: -6.0,
            }],
            ..Strip::default()
        };
        for (freq, want_db) in [(1000.0, -6.0), (100.0, -0.1), (10_000.0, -0.1)] {
            let x = sine(48_000, rate, freq, 0.5, 0.0);
            let mut bus = vec![0.0f32; 2 * x.len()];
            ChannelStrip::new(&strip, 1, 48_000).mix_into(&mut to_f32(&x), &mut bus, None);
            let left: Vec<f64> = bus.iter().step_by(2).map(|&v| f64::from(v)).collect();
            // Skip the filter's start; the mono pan law puts −3 dB on each side.
            let got = 10.0
                * (tone_power(&left[4800..], rate, freq) / tone_power(&x[4800..], rate, freq))
                    .log10()
                + 3.0103;
            assert!(
                (got - want_db).abs() < 0.15,
                "{freq} Hz: {got:.2} dB, want {want_db}"
            );
        }
    }
}
