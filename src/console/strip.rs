//! A channel strip: polarity, trim, fader, width and pan, from a mono or stereo stem to
//! the stereo mix bus.

use crate::dsp::{db_to_gain, pan};
use crate::session::Strip;

/// A strip ready to play: the session's settings turned into gains.
pub struct ChannelStrip {
    channels: usize,
    /// Gain from the input's left (or mono) channel to bus left and right.
    left: (f32, f32),
    /// Gain from the input's right channel to bus left and right (stereo inputs only).
    right: (f32, f32),
}

impl ChannelStrip {
    /// Builds the strip for a stem with `channels` (1 or 2) channels.
    pub fn new(strip: &Strip, channels: usize) -> Self {
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
        }
    }

    /// Adds this strip's output for `input` (interleaved, the stem's channel count) to the
    /// stereo `bus`, and writes it alone into `solo` when given (for `--stems-out`).
    pub fn mix_into(&self, input: &[f32], bus: &mut [f32], mut solo: Option<&mut [f32]>) {
        for (i, (frame, out)) in input
            .chunks_exact(self.channels)
            .zip(bus.chunks_exact_mut(2))
            .enumerate()
        {
            let x = frame[0];
            let y = if self.channels == 2 { frame[1] } else { 0.0 };
            let l = x * self.left.0 + y * self.right.0;
            let r = x * self.left.1 + y * self.right.1;
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

    #[test]
    fn stereo_at_unity_passes_through_and_width_zero_is_mono() {
        let strip = Strip::default();
        let s = ChannelStrip::new(&strip, 2);
        let input = [0.5, -0.25, 0.1, 0.3];
        let mut bus = [0.0; 4];
        s.mix_into(&input, &mut bus, None);
        assert_eq!(bus, input);
        let mono = ChannelStrip::new(
            &Strip {
                width: 0.0,
                ..Strip::default()
            },
            2,
        );
        let mut bus = [0.0; 4];
        mono.mix_into(&input, &mut bus, None);
        assert_eq!(bus[0], bus[1]);
        assert!((bus[0] - 0.125).abs() < 1e-7);
    }

    #[test]
    fn polarity_mute_and_centre_pan() {
        let inv = ChannelStrip::new(
            &Strip {
                polarity_inverted: true,
                ..Strip::default()
            },
            1,
        );
        let mut bus = [0.0; 2];
        inv.mix_into(&[1.0], &mut bus, None);
        assert!((bus[0] + std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6 && bus[0] == bus[1]);
        let muted = ChannelStrip::new(
            &Strip {
                mute: true,
                ..Strip::default()
            },
            1,
        );
        let mut bus = [0.0; 2];
        let mut solo = [9.0; 2];
        muted.mix_into(&[1.0], &mut bus, Some(&mut solo));
        assert_eq!((bus, solo), ([0.0; 2], [0.0; 2]));
    }
}
