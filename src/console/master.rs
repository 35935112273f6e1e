//! The master section: gain into a true-peak limiter, solved so the delivered mix lands
//! exactly on the target loudness without exceeding the ceiling.

use ebur128::{EbuR128, Mode};
use serde::{Deserialize, Serialize};

use crate::dsp::limiter::{DEFAULT_LOOKAHEAD_MS, DEFAULT_RELEASE_MS, TruePeakLimiter};
use crate::dsp::meter::{CurveMeter, finite, loudness_range};
use crate::dsp::oversample::TruePeakDetector;
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

enum Meter {
    /// Loudness only: enough to steer the gain.
    Search(EbuR128),
    /// Everything the delivery reports.
    Delivery(CurveMeter),
}

struct Pass {
    /// The delivered audio; only kept by a delivering pass.
    out: Option<Spool>,
    integrated: Option<f64>,
    true_peak: Option<f64>,
    lra: Option<f64>,
}

fn limiter(rate: u32, ceiling_dbtp: f64) -> TruePeakLimiter {
    TruePeakLimiter::new(
        2,
        rate as f64,
        ceiling_dbtp,
        DEFAULT_LOOKAHEAD_MS,
        DEFAULT_RELEASE_MS,
    )
    .expect("constant limiter settings are valid")
}

/// The limiter's detector readings for the unscaled bus (plus the zeros that flush the
/// limiter's delay), measured once: each pass scales them by its gain.
fn bus_peaks(bus: &Spool, rate: u32) -> Result<Spool, Error> {
    let latency = limiter(rate, 0.0).latency();
    let mut detector = TruePeakDetector::new(2, rate as f64);
    let mut out = SpoolWriter::new(1).map_err(Error::Spool)?;
    let mut peaks = Vec::with_capacity(BLOCK);
    let mut blocks = bus.blocks(BLOCK);
    let mut measure = |block: &[f32], out: &mut SpoolWriter| {
        peaks.clear();
        peaks.extend(block.chunks_exact(2).map(|f| detector.push_frame(f) as f32));
        out.write(&peaks).map_err(Error::Spool)
    };
    while let Some(b) = blocks.next_block().map_err(Error::Spool)? {
        measure(b, &mut out)?;
    }
    measure(&vec![0.0; latency * 2], &mut out)?;
    out.finish().map_err(Error::Spool)
}

/// Runs the bus through gain and limiter once, measuring the result. A `deliver` pass also
/// keeps the audio and measures true peak and LRA; search passes only need loudness.
fn pass(
    bus: &Spool,
    peaks: &Spool,
    rate: u32,
    gain_db: f64,
    ceiling_dbtp: f64,
    deliver: bool,
) -> Result<Pass, Error> {
    let mut limiter = limiter(rate, ceiling_dbtp);
    let latency = limiter.latency();
    // Only the delivering pass pays for the curves (LRA) and the true peak.
    let mut meter = if deliver {
        Meter::Delivery(CurveMeter::new(2, rate, Mode::TRUE_PEAK))
    } else {
        Meter::Search(EbuR128::new(2, rate, Mode::I).expect("stereo at a valid rate"))
    };
    let mut out = if deliver {
        Some(SpoolWriter::new(2).map_err(Error::Spool)?)
    } else {
        None
    };
    let g = db_to_gain(gain_db);
    let mut peak_buf = vec![0.0f32; BLOCK];
    let mut scaled = Vec::with_capacity(BLOCK);
    // The limiter delays by `latency` frames: drop that many from the start and flush as
    // many zeros through at the end, so the master is sample-aligned with the stems.
    let mut skip = latency;
    let mut pos = 0u64;
    let mut emit = |block: &mut [f32], limiter: &mut TruePeakLimiter| -> Result<(), Error> {
        let n = block.len() / 2;
        peaks.read(pos, &mut peak_buf[..n]).map_err(Error::Spool)?;
        pos += n as u64;
        scaled.clear();
        scaled.extend(peak_buf[..n].iter().map(|&p| p as f64 * g));
        limiter.process_with_peaks(block, &scaled);
        let from = (skip.min(n)) * 2;
        skip -= from / 2;
        let done = &block[from..];
        match &mut meter {
            Meter::Delivery(m) => m.push(done),
            Meter::Search(m) => m.add_frames_f32(done).expect("stereo frames"),
        }
        match out.as_mut() {
            Some(out) => out.write(done).map_err(Error::Spool),
            None => Ok(()),
        }
    };
    let mut blocks = bus.blocks(BLOCK);
    let mut buf = Vec::with_capacity(BLOCK * 2);
    let gf = g as f32;
    while let Some(b) = blocks.next_block().map_err(Error::Spool)? {
        buf.clear();
        buf.extend(b.iter().map(|x| x * gf));
        emit(&mut buf, &mut limiter)?;
    }
    for tail in vec![0.0; latency * 2].chunks_mut(BLOCK * 2) {
        emit(tail, &mut limiter)?;
    }
    let (integrated, true_peak, lra) = match meter {
        Meter::Delivery(m) => {
            let c = m.finish().map_err(Error::Spool)?;
            let tp = (0..2)
                .filter_map(|ch| c.meter.true_peak(ch).ok())
                .fold(0.0f64, f64::max);
            (
                finite(c.meter.loudness_global()),
                (tp > 0.0).then(|| gain_to_db(tp)),
                loudness_range(&c.short_term).map_err(Error::Spool)?,
            )
        }
        Meter::Search(m) => (finite(m.loudness_global()), None, None),
    };
    Ok(Pass {
        out: out.map(|o| o.finish().map_err(Error::Spool)).transpose()?,
        integrated,
        true_peak,
        lra,
    })
}

fn delivered(
    p: Pass,
    gain_db: f64,
    ceiling: f64,
    passes: usize,
    warning: Option<String>,
) -> (Spool, MasterReport) {
    let report = MasterReport {
        gain_db,
        limiter_ceiling_dbtp: ceiling,
        passes,
        integrated_lufs: p.integrated,
        true_peak_dbtp: p.true_peak,
        lra_lu: p.lra,
        warning,
    };
    (p.out.expect("a delivering pass keeps its audio"), report)
}

/// Finds the gain that puts the limited mix on `master.target_lufs` with its true peak at
/// or under `master.ceiling_dbtp`, and returns the delivered audio with its report.
///
/// The limiter makes loudness a monotonic but compressive function of gain, so the gain
/// is solved by secant steps on measured loudness (cheap passes that only meter loudness);
/// the solution is then rendered once more, kept and checked for true peak. A reading over
/// the ceiling lowers the limiter's ceiling and the solve goes on. The ceiling always wins
/// over loudness when both cannot be met.
pub fn master(
    bus: &Spool,
    rate: u32,
    bus_lufs: Option<f64>,
    master: &Master,
) -> Result<(Spool, MasterReport), Error> {
    let target = master.target_lufs;
    let mut ceiling = master.ceiling_dbtp - CEILING_MARGIN_DB;
    let peaks = bus_peaks(bus, rate)?;
    let Some(bus_lufs) = bus_lufs else {
        let p = pass(bus, &peaks, rate, 0.0, ceiling, true)?;
        let warning = Some("the mix is silent: nothing to bring to the target".into());
        return Ok(delivered(p, 0.0, ceiling, 1, warning));
    };
    let mut gain = target - bus_lufs;
    let mut prev: Option<(f64, f64)> = None;
    let mut best: Option<(f64, f64, f64)> = None;
    for n in 1..=MAX_PASSES {
        let p = pass(bus, &peaks, rate, gain, ceiling, false)?;
        let Some(lufs) = p.integrated else {
            break;
        };
        let err = target - lufs;
        if err.abs() <= LOUDNESS_TOLERANCE {
            let p = pass(bus, &peaks, rate, gain, ceiling, true)?;
            match p.true_peak {
                Some(tp) if tp > master.ceiling_dbtp => {
                    ceiling -= tp - master.ceiling_dbtp + 0.02;
                    prev = None;
                    continue;
                }
                _ => return Ok(delivered(p, gain, ceiling, n + 1, None)),
            }
        }
        if best.is_none_or(|(_, _, e)| err.abs() < e.abs()) {
            best = Some((gain, ceiling, err));
        }
        let next_gain = match prev {
            Some((g0, l0)) if (gain - g0).abs() > 1e-6 => {
                let slope = ((lufs - l0) / (gain - g0)).clamp(0.05, 1.5);
                gain + err / slope
            }
            _ => gain + err,
        };
        prev = Some((gain, lufs));
        // Past ~+30 dB of limiting more gain buys no loudness, only distortion.
        gain = next_gain.min(gain + 24.0).min(target - bus_lufs + 30.0);
    }
    // Not converged: deliver the closest try, under the ceiling whatever it costs.
    let (gain, mut ceiling, err) = best.unwrap_or((target - bus_lufs, ceiling, f64::NAN));
    loop {
        let p = pass(bus, &peaks, rate, gain, ceiling, true)?;
        match p.true_peak {
            Some(tp) if tp > master.ceiling_dbtp => ceiling -= tp - master.ceiling_dbtp + 0.02,
            _ => {
                let warning = Some(format!(
                    "target loudness missed by {err:.2} LU: the limiter could not go louder without exceeding the ceiling"
                ));
                return Ok(delivered(p, gain, ceiling, MAX_PASSES, warning));
            }
        }
    }
}
