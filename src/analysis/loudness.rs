//! BS.1770 loudness (via the `ebur128` crate) and where a track actually plays.

use ebur128::Mode;

pub use crate::dsp::meter::CURVE_STEP_S;
use std::io;

use super::select::select;
use crate::dsp::meter::{ABSOLUTE_GATE_LUFS, CurveMeter, finite, loudness_range};
use crate::io::spool::{Curve, CurveValues};
use serde::{Deserialize, Serialize};

/// A hop is "active" when its momentary loudness is within this many dB of the track's
/// loudest 5 % (the activity rule of DESIGN §4).
pub const ACTIVE_RANGE_DB: f64 = 20.0;

/// Loudness figures of one signal. `None` where a figure is undefined (silence, or a
/// signal shorter than the measuring window: integrated loudness needs 400 ms, LRA 3 s).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Loudness {
    /// Integrated loudness (BS.1770-4, gated), LUFS.
    pub integrated_lufs: Option<f64>,
    /// Loudness range (EBU Tech 3342), LU.
    pub lra_lu: Option<f64>,
    /// Maximum true peak over channels (BS.1770-4 Annex 2), dBTP.
    pub true_peak_dbtp: Option<f64>,
    /// Maximum sample peak over channels, dBFS.
    pub sample_peak_dbfs: Option<f64>,
    /// Loudness where the track plays: the energy mean of the momentary loudness over the
    /// active hops, LUFS. The quantity faders are balanced on.
    pub active_lufs: Option<f64>,
    /// Share of the song (0..1) in which the track is active.
    pub active_fraction: f64,
    /// Short-term (3 s) loudness every [`CURVE_STEP_S`], LUFS (−inf as missing), on disk.
    pub short_term_lufs: Curve,
    /// Momentary (400 ms) loudness every [`CURVE_STEP_S`], LUFS, on disk.
    pub momentary_lufs: Curve,
}

/// Streaming loudness meter: push interleaved blocks, then [`LoudnessMeter::finish`].
pub struct LoudnessMeter {
    curves: CurveMeter,
    channels: usize,
}

impl LoudnessMeter {
    /// A meter for `channels` (1 or 2) at `rate` Hz; `true_peak` adds the (slower)
    /// oversampled peak measurement.
    pub fn new(channels: usize, rate: u32, true_peak: bool) -> Self {
        let mut extra = Mode::SAMPLE_PEAK;
        if true_peak {
            extra |= Mode::TRUE_PEAK;
        }
        LoudnessMeter {
            curves: CurveMeter::new(channels, rate, extra),
            channels,
        }
    }

    /// Adds interleaved frames.
    pub fn push(&mut self, block: &[f32]) {
        self.curves.push(block);
    }

    /// The figures for everything pushed. The curves are on disk as they are measured and
    /// read back in passes for the figures; fails when the temporary folder does.
    pub fn finish(self) -> io::Result<Loudness> {
        let curves = self.curves.finish()?;
        let meter = &curves.meter;
        let peak = |f: &dyn Fn(u32) -> Result<f64, ebur128::Error>| {
            (0..self.channels as u32)
                .filter_map(|c| f(c).ok())
                .fold(0.0f64, f64::max)
        };
        let db = |p: f64| (p > 0.0).then(|| 20.0 * p.log10());
        let true_peak = meter
            .mode()
            .contains(Mode::TRUE_PEAK)
            .then(|| db(peak(&|c| meter.true_peak(c))))
            .flatten();
        let (active_lufs, active_fraction) = active_loudness(&curves.momentary)?;
        Ok(Loudness {
            integrated_lufs: finite(meter.loudness_global()),
            lra_lu: loudness_range(&curves.short_term)?,
            true_peak_dbtp: true_peak,
            sample_peak_dbfs: db(peak(&|c| meter.sample_peak(c))),
            active_lufs,
            active_fraction,
            short_term_lufs: curves.short_term,
            momentary_lufs: curves.momentary,
        })
    }
}

/// The activity threshold of a set of levels in dB (momentary loudness, or frame levels):
/// [`ACTIVE_RANGE_DB`] under the loudest 5 % of the levels above `gate`. `None` when no
/// level passes the gate. A level is active when it is above `gate` and at or above this.
/// `levels` hands every level to its argument, and is called once per pass (a count, then
/// the eight of an exact [`select`]), so the levels may stay on disk.
pub fn active_threshold<E>(
    mut levels: impl FnMut(&mut dyn FnMut(f64)) -> Result<(), E>,
    gate: f64,
) -> Result<Option<f64>, E> {
    let mut n = 0u64;
    levels(&mut |v| n += u64::from(v > gate))?;
    if n == 0 {
        return Ok(None);
    }
    let rank = ((n - 1) as f64 * 0.95).round() as u64;
    let loud = select(vec![rank], |feed| {
        levels(&mut |v| {
            if v > gate {
                feed(0, v)
            }
        })
    })?[0];
    Ok(Some(loud - ACTIVE_RANGE_DB))
}

/// Which hops of a momentary-loudness curve are active: above the absolute gate and
/// within [`ACTIVE_RANGE_DB`] of the loudest 5 % ([`active_threshold`] over the curve).
#[derive(Debug, Clone, Copy)]
pub struct ActiveHops {
    threshold: Option<f64>,
}

impl ActiveHops {
    /// The rule for `momentary` (read in passes).
    pub fn of(momentary: &(impl CurveValues + ?Sized)) -> io::Result<ActiveHops> {
        let threshold = active_threshold(
            |f| {
                momentary.each(&mut |v| {
                    if let Some(v) = v {
                        f(v as f64)
                    }
                })
            },
            ABSOLUTE_GATE_LUFS,
        )?;
        Ok(ActiveHops { threshold })
    }

    /// Whether a hop of that curve with momentary loudness `v` is active.
    pub fn contains(&self, v: Option<f32>) -> bool {
        match (v, self.threshold) {
            (Some(v), Some(t)) => v as f64 > ABSOLUTE_GATE_LUFS && v as f64 >= t,
            _ => false,
        }
    }
}

/// Energy mean of the active hops ([`ActiveHops`]) of a momentary-loudness curve, and
/// their share.
pub fn active_loudness(momentary: &(impl CurveValues + ?Sized)) -> io::Result<(Option<f64>, f64)> {
    let active = ActiveHops::of(momentary)?;
    let (mut energy, mut n) = (-0.0f64, 0usize);
    momentary.each(&mut |v| {
        if active.contains(v)
            && let Some(v) = v
        {
            energy += 10f64.powf(v as f64 / 10.0);
            n += 1;
        }
    })?;
    if n == 0 {
        return Ok((None, 0.0));
    }
    Ok((
        Some(10.0 * (energy / n as f64).log10()),
        n as f64 / momentary.count() as f64,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, secs: f64, amp: f32, channels: usize) -> Vec<f32> {
        let n = (rate as f64 * secs) as usize;
        (0..n)
            .flat_map(|i| {
                let v = amp * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / rate as f32).sin();
                std::iter::repeat_n(v, channels)
            })
            .collect()
    }

    #[test]
    fn stereo_1k_sine_at_minus_20_reads_minus_20() {
        // EBU Tech 3341 case 1: 1 kHz stereo sine at −20 dBFS reads −20 LUFS ±0.1.
        for rate in [44_100, 48_000] {
            let mut m = LoudnessMeter::new(2, rate, true);
            for chunk in sine(rate, 20.0, 0.1, 2).chunks(4097 * 2) {
                m.push(chunk);
            }
            let l = m.finish().unwrap();
            assert!((l.integrated_lufs.unwrap() + 20.0).abs() < 0.1, "{l:?}");
            assert!((l.active_lufs.unwrap() + 20.0).abs() < 0.1);
            assert!(l.active_fraction > 0.95);
            assert_eq!(l.momentary_lufs.len(), 200);
        }
    }

    #[test]
    fn active_loudness_ignores_silence() {
        let rate = 48_000;
        let mut signal = sine(rate, 5.0, 0.1, 1);
        signal.extend(vec![0.0; rate as usize * 15]);
        let mut m = LoudnessMeter::new(1, rate, false);
        m.push(&signal);
        let l = m.finish().unwrap();
        // Mono −20 dBFS sine measured as one front channel: −23 LUFS while it plays.
        assert!(
            (l.active_lufs.unwrap() + 23.0).abs() < 0.3,
            "{:?}",
            l.active_lufs
        );
        assert!(
            (l.active_fraction - 0.25).abs() < 0.05,
            "{}",
            l.active_fraction
        );
    }

    #[test]
    fn silence_and_short_input_are_defined() {
        let mut m = LoudnessMeter::new(2, 44_100, true);
        m.push(&vec![0.0; 44_100]);
        let l = m.finish().unwrap();
        assert_eq!(l.integrated_lufs, None);
        assert_eq!(l.active_lufs, None);
        assert_eq!(l.true_peak_dbtp, None);
        let mut m = LoudnessMeter::new(1, 44_100, true);
        m.push(&sine(44_100, 0.2, 0.5, 1));
        let l = m.finish().unwrap();
        assert_eq!(
            l.integrated_lufs, None,
            "under 400 ms integrated is undefined"
        );
        assert!(l.sample_peak_dbfs.is_some());
    }
}
