//! Loudness curves sampled every 100 ms and the loudness range computed from them: shared
//! by the analysis meters and the master's delivery measurement.

use std::io;

use ebur128::{EbuR128, Mode};

use crate::analysis::select::select;
use crate::io::spool::{Curve, CurveValues, CurveWriter};

/// Step of the loudness curves, seconds (the 10 Hz rate of EBU Tech 3341/3342).
pub const CURVE_STEP_S: f64 = 0.1;
/// BS.1770 absolute gate, LUFS.
pub const ABSOLUTE_GATE_LUFS: f64 = -70.0;
/// Short-term window in curve steps (3 s).
const SHORT_TERM_STEPS: usize = 30;

/// A BS.1770 meter (the `ebur128` crate) that also samples the momentary and short-term
/// loudness every [`CURVE_STEP_S`], written to on-disk curves as they come. Push
/// interleaved blocks of any size, then [`CurveMeter::finish`].
pub struct CurveMeter {
    meter: EbuR128,
    channels: usize,
    hop: usize,
    in_hop: usize,
    short_term: CurveWriter,
    momentary: CurveWriter,
}

/// What a [`CurveMeter`] measured.
pub struct Curves {
    /// The meter, for integrated loudness and peaks.
    pub meter: EbuR128,
    /// Short-term (3 s) loudness per step, LUFS; missing for −∞.
    pub short_term: Curve,
    /// Momentary (400 ms) loudness per step, LUFS.
    pub momentary: Curve,
}

/// A finite figure from the meter, or `None` (silence, too short).
pub fn finite(x: Result<f64, ebur128::Error>) -> Option<f64> {
    x.ok().filter(|v| v.is_finite())
}

impl CurveMeter {
    /// A meter for `channels` (1 or 2) at `rate` Hz measuring integrated loudness and the
    /// curves, plus whatever `extra` modes ask (true peak, sample peak).
    pub fn new(channels: usize, rate: u32, extra: Mode) -> Self {
        let meter = EbuR128::new(channels as u32, rate, Mode::I | Mode::M | Mode::S | extra)
            .expect("1-2 channels at 8-192 kHz are valid ebur128 parameters");
        CurveMeter {
            meter,
            channels,
            hop: ((rate as f64 * CURVE_STEP_S).round() as usize).max(1),
            in_hop: 0,
            short_term: CurveWriter::new(),
            momentary: CurveWriter::new(),
        }
    }

    /// Adds interleaved frames.
    pub fn push(&mut self, mut block: &[f32]) {
        while !block.is_empty() {
            let frames = (block.len() / self.channels).min(self.hop - self.in_hop);
            let (now, rest) = block.split_at(frames * self.channels);
            self.meter
                .add_frames_f32(now)
                .expect("frame count matches the channel count");
            self.in_hop += frames;
            if self.in_hop == self.hop {
                self.in_hop = 0;
                let st = finite(self.meter.loudness_shortterm());
                let m = finite(self.meter.loudness_momentary());
                self.short_term.push_opt(st.map(|v| v as f32));
                self.momentary.push_opt(m.map(|v| v as f32));
            }
            block = rest;
        }
    }

    /// The meter and the curves of everything pushed; fails when the temporary folder does.
    pub fn finish(self) -> io::Result<Curves> {
        Ok(Curves {
            meter: self.meter,
            short_term: self.short_term.finish()?,
            momentary: self.momentary.finish()?,
        })
    }
}

/// Loudness range (EBU Tech 3342) of a short-term loudness curve taken every
/// [`CURVE_STEP_S`]: the spread between the 10th and 95th percentiles of the short-term
/// values that pass the absolute (−70 LUFS) and relative (−20 LU) gates. `None` under 3 s.
///
/// Why not the `ebur128` crate's figure: it (like libebur128) takes one short-term block
/// per second, and on sparse material (a vocal with pauses) that reads up to 3 LU away
/// from meters that step at 10 Hz (ffmpeg's ebur128 filter, pyloudnorm), which agree with
/// each other; Tech 3342 asks for the 10 Hz curve.
pub fn loudness_range(short_term: &(impl CurveValues + ?Sized)) -> io::Result<Option<f64>> {
    if short_term.count() < SHORT_TERM_STEPS {
        return Ok(None);
    }
    // Windows shorter than 3 s at the start are not short-term values yet. Read in passes
    // (the curve stays on disk): the gated values' energy mean, then their percentiles.
    let each_gated = |f: &mut dyn FnMut(f64)| {
        let mut i = 0usize;
        short_term.each(&mut |v| {
            if i >= SHORT_TERM_STEPS - 1
                && let Some(v) = v
                && v as f64 > ABSOLUTE_GATE_LUFS
            {
                f(v as f64);
            }
            i += 1;
        })
    };
    let (mut energy, mut n) = (-0.0f64, 0usize);
    each_gated(&mut |v| {
        energy += 10f64.powf(v / 10.0);
        n += 1;
    })?;
    if n == 0 {
        return Ok(None);
    }
    let relative = 10.0 * (energy / n as f64).log10() - 20.0;
    let mut kept = 0usize;
    each_gated(&mut |v| kept += usize::from(v >= relative))?;
    let rank = |p: f64| ((kept - 1) as f64 * p).round() as u64;
    let at = select(vec![rank(0.95), rank(0.10)], |feed| {
        each_gated(&mut |v| {
            if v >= relative {
                feed(0, v);
                feed(1, v);
            }
        })
    })?;
    Ok(Some(at[0] - at[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_levels_give_their_difference_and_silence_is_gated() {
        // 20 s at −20 then 20 s at −30 LUFS (Tech 3342 case 1 shape): LRA 10 LU; silence
        // added around it changes nothing.
        let mut curve: Vec<Option<f32>> = vec![None; 50];
        curve.extend(std::iter::repeat_n(Some(-20.0), 200));
        curve.extend(std::iter::repeat_n(Some(-30.0), 200));
        curve.extend(std::iter::repeat_n(Some(-90.0), 100));
        let lra = loudness_range(curve.as_slice()).unwrap().unwrap();
        assert!((lra - 10.0).abs() < 1e-6, "{lra}");
        assert_eq!(loudness_range(&curve[..29]).unwrap(), None, "under 3 s");
        assert_eq!(loudness_range(&[None; 100][..]).unwrap(), None, "silence");
    }
}
