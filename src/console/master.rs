//! The master section: gain into a true-peak limiter, solved so the delivered mix lands
//! exactly on the target loudness without exceeding the ceiling.

use ebur128::{EbuR128, Mode};
use serde::{Deserialize, Serialize};

use crate::dsp::limiter::{DEFAULT_LOOKAHEAD_MS, DEFAULT_RELEASE_MS, TruePeakLimiter};
use crate::dsp::{Processor, db_to_gain, gain_to_db};
use crate::error::Error;
use crate::io::spool::{Spool, SpoolWriter};
use crate::session::Master;

const BLOCK: usize = 8192;
/// Loudness is solved to within this, LU (the contract allows ±0.5; we aim far tighter).
const LOUDNESS_TOLERANCE: f64 = 0.05;
/// The limiter aims this far under the ceiling so that our true-peak reading and other
/// meters' (different interpolation filters) agree the ceiling holds.
const CEILING_MARGIN_DB: f64 = 0.1;
const MAX_PASSES: usize = 12;

/// What the master did and what the delivered mix measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MasterReport {
    /// Gain into the limiter, dB.
    pub gain_db: f64,
    /// Ceiling the limiter worked to, dBTP.
    pub limiter_ceiling_dbtp: f64,
    /// Passes it took to land on the target.
    pub passes: usize,
    /// Integrated loudness of the delivered mix (before dither), LUFS; `None` if silent.
    pub integrated_lufs: Option<f64>,
    /// True peak of the delivered mix, dBTP.
    pub true_peak_dbtp: Option<f64>,
    /// Loudness range of the delivered mix, LU.
    pub lra_lu: Option<f64>,
    /// Why the target could not be met exactly, when it could not.
    pub warning: Option<String>,
}

struct Pass {
    out: Spool,
    integrated: Option<f64>,
    true_peak: Option<f64>,
    lra: Option<f64>,
}

/// Runs the bus through gain and limiter once, into a spool, measuring the result.
fn pass(bus: &Spool, rate: u32, gain_db: f64, ceiling_dbtp: f64) -> Result<Pass, Error> {
    let mut limiter = TruePeakLimiter::new(
        2,
        rate as f64,
        ceiling_dbtp,
        DEFAULT_LOOKAHEAD_MS,
        DEFAULT_RELEASE_MS,
    )
    .expect("constant limiter settings are valid");
    let latency = limiter.latency();
    let mut meter = EbuR128::new(2, rate, Mode::I | Mode::LRA | Mode::TRUE_PEAK)
        .expect("stereo at a valid rate");
    let mut out = SpoolWriter::new(2).map_err(Error::Spool)?;
    let g = db_to_gain(gain_db) as f32;
    // The limiter delays by `latency` frames: drop that many from the start and flush as
    // many zeros through at the end, so the master is sample-aligned with the stems.
    let mut skip = latency;
    let mut emit = |block: &mut [f32], limiter: &mut TruePeakLimiter| -> Result<(), Error> {
        limiter.process(block);
        let from = (skip.min(block.len() / 2)) * 2;
        skip -= from / 2;
        let done = &block[from..];
        meter.add_frames_f32(done).expect("stereo frames");
        out.write(done).map_err(Error::Spool)
    };
    let mut blocks = bus.blocks(BLOCK);
    let mut buf = Vec::with_capacity(BLOCK * 2);
    while let Some(b) = blocks.next_block().map_err(Error::Spool)? {
        buf.clear();
        buf.extend(b.iter().map(|x| x * g));
        emit(&mut buf, &mut limiter)?;
    }
    let mut tail = vec![0.0; latency * 2];
    emit(&mut tail, &mut limiter)?;
    let tp = (0..2)
        .filter_map(|c| meter.true_peak(c).ok())
        .fold(0.0f64, f64::max);
    Ok(Pass {
        out: out.finish().map_err(Error::Spool)?,
        integrated: meter.loudness_global().ok().filter(|v| v.is_finite()),
        true_peak: (tp > 0.0).then(|| gain_to_db(tp)),
        lra: meter.loudness_range().ok().filter(|v| v.is_finite()),
    })
}

/// Finds the gain that puts the limited mix on `master.target_lufs` with its true peak at
/// or under `master.ceiling_dbtp`, and returns the delivered audio with its report.
///
/// The limiter makes loudness a monotonic but compressive function of gain, so the gain
/// is solved by secant steps on measured loudness; a true-peak reading over the ceiling
/// lowers the limiter's ceiling and the solve goes on. The ceiling always wins over
/// loudness when both cannot be met.
pub fn master(
    bus: &Spool,
    rate: u32,
    bus_lufs: Option<f64>,
    master: &Master,
) -> Result<(Spool, MasterReport), Error> {
    let target = master.target_lufs;
    let mut ceiling = master.ceiling_dbtp - CEILING_MARGIN_DB;
    let Some(bus_lufs) = bus_lufs else {
        let p = pass(bus, rate, 0.0, ceiling)?;
        let report = MasterReport {
            gain_db: 0.0,
            limiter_ceiling_dbtp: ceiling,
            passes: 1,
            integrated_lufs: None,
            true_peak_dbtp: p.true_peak,
            lra_lu: None,
            warning: Some("the mix is silent: nothing to bring to the target".into()),
        };
        return Ok((p.out, report));
    };
    let mut gain = target - bus_lufs;
    let mut prev: Option<(f64, f64)> = None;
    let mut best: Option<(Pass, f64, f64)> = None;
    for n in 1..=MAX_PASSES {
        let p = pass(bus, rate, gain, ceiling)?;
        let Some(lufs) = p.integrated else {
            break;
        };
        let peak_ok = p.true_peak.is_none_or(|tp| tp <= master.ceiling_dbtp);
        let err = target - lufs;
        if peak_ok && err.abs() <= LOUDNESS_TOLERANCE {
            let report = MasterReport {
                gain_db: gain,
                limiter_ceiling_dbtp: ceiling,
                passes: n,
                integrated_lufs: p.integrated,
                true_peak_dbtp: p.true_peak,
                lra_lu: p.lra,
                warning: None,
            };
            return Ok((p.out, report));
        }
        let next_gain = match prev {
            Some((g0, l0)) if (gain - g0).abs() > 1e-6 => {
                let slope = ((lufs - l0) / (gain - g0)).clamp(0.05, 1.5);
                gain + err / slope
            }
            _ => gain + err,
        };
        prev = Some((gain, lufs));
        if !peak_ok {
            ceiling -= p.true_peak.unwrap_or(ceiling) - master.ceiling_dbtp + 0.02;
        } else if best.as_ref().is_none_or(|(_, _, e)| err.abs() < e.abs()) {
            best = Some((p, gain, err));
        }
        // Past ~+30 dB of limiting more gain buys no loudness, only distortion.
        gain = next_gain.min(gain + 24.0).min(target - bus_lufs + 30.0);
    }
    let (p, gain, err) = match best {
        Some(b) => b,
        None => {
            // Never delivered over the ceiling: fall back to a clean pass well under it.
            let p = pass(bus, rate, gain.min(target - bus_lufs), ceiling - 1.0)?;
            let err = target - p.integrated.unwrap_or(target);
            (p, gain, err)
        }
    };
    let report = MasterReport {
        gain_db: gain,
        limiter_ceiling_dbtp: ceiling,
        passes: MAX_PASSES,
        integrated_lufs: p.integrated,
        true_peak_dbtp: p.true_peak,
        lra_lu: p.lra,
        warning: Some(format!(
            "target loudness missed by {err:.2} LU: the limiter could not go louder without exceeding the ceiling"
        )),
    };
    Ok((p.out, report))
}
