//! Low and high playback volume: the balance is checked as heard at a loud (85 dB SPL) and
//! a quiet (60 dB SPL) level with the masking model of [`crate::analysis::masking`] (ISO
//! 226 threshold in quiet, level-dependent spread of masking). Where a kick or a bass is
//! lost at the quiet level, harmonics of its fundamentals are added in the low mids
//! ([`crate::dsp::harmonics`]), as little as makes it heard, and never so much that the loud
//! playback gets boomy.

use super::roles::Role;
use crate::analysis::masking::{AudibilityCriterion, MaskingModel, TrackAudibility};
use std::io;

use crate::analysis::spectrum::{
    BAND_FRAME_BLOCK, BandFrames, FLOOR_DB, THIRD_OCTAVE_BANDS, third_octave_band,
};
use crate::io::spool::SpoolWriter;
use crate::session::BassHarmonics;

/// Loud and quiet playback levels, dB SPL.
pub const LOUD_SPL: f64 = 85.0;
/// See [`LOUD_SPL`].
pub const QUIET_SPL: f64 = 60.0;
/// A low instrument should be unmasked in this share of its playing frames when quiet.
const QUIET_TARGET: f64 = 0.8;
/// Amounts tried, dB (octave over fundamental), gentlest first.
const AMOUNTS_DB: [f64; 5] = [-18.0, -15.0, -12.0, -9.0, -6.0];
/// The harmonics sit between these, Hz.
const LOW_HZ: f64 = 100.0;
const HIGH_HZ: f64 = 500.0;
/// Loud playback must not get boomy: the mix's energy from 100 to 500 Hz grows by at most
/// this, dB.
const MAX_LOW_MID_RISE_DB: f64 = 1.0;
/// Harmonics the rectifier makes relative to the octave, dB, and how many third-octave
/// bands above the fundamental each sits: the octave (3 bands), two octaves (6, −10.6 dB),
/// three octaves (9, −14 dB, the sixth harmonic rounded to its band).
const HARMONICS: [(usize, f64); 3] = [(3, 0.0), (6, -10.6), (8, -14.0)];

/// What the check found for one track, and what was done.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaybackCheck {
    /// Share of its playing frames in which it is unmasked at [`LOUD_SPL`].
    pub loud: Option<f64>,
    /// The same at [`QUIET_SPL`], before any enhancement.
    pub quiet: Option<f64>,
    /// The enhancement chosen, if any.
    pub harmonics: Option<BassHarmonics>,
    /// The quiet share with it.
    pub quiet_after: Option<f64>,
}

/// Calls `f` on the band levels (dB) of every frame of `frames`, block by block.
fn for_each_frame(frames: &BandFrames, mut f: impl FnMut(&[f32])) -> io::Result<()> {
    let bands = frames.bands().max(1);
    let mut blocks = frames.blocks(BAND_FRAME_BLOCK);
    while let Some(block) = blocks.next_block()? {
        block.chunks_exact(bands).for_each(&mut f);
    }
    Ok(())
}

/// The short-time bands of a track with the enhancer's harmonics added at `amount_db`: each
/// band of the fundamentals' region (up to 1.5 × [`LOW_HZ`]) feeds the bands of its
/// harmonics, kept within [`LOW_HZ`]…[`HIGH_HZ`] by the enhancer's filters. Frame by frame
/// into a new on-disk store.
fn with_harmonics(frames: &BandFrames, amount_db: f64) -> io::Result<BandFrames> {
    let bands = frames.bands();
    let source: Vec<usize> = (0..bands)
        .filter(|&b| third_octave_band(b).centre_hz <= 1.5 * LOW_HZ)
        .collect();
    let shape: Vec<f64> = (0..bands)
        .map(|b| {
            let f = third_octave_band(b).centre_hz;
            1.0 / (1.0 + (LOW_HZ / f).powi(8)) / (1.0 + (f / HIGH_HZ).powi(4))
        })
        .collect();
    let mut out = SpoolWriter::new(bands)?;
    let mut written = Ok(());
    let mut levels = Vec::with_capacity(bands);
    for_each_frame(frames, |frame| {
        let mut power: Vec<f64> = frame.iter().map(|&d| 10f64.powf(d as f64 / 10.0)).collect();
        for &b in &source {
            let e = 10f64.powf(frame[b] as f64 / 10.0);
            for &(up, rel) in &HARMONICS {
                if let Some(p) = power.get_mut(b + up) {
                    *p += e * 10f64.powf((amount_db + rel) / 10.0) * shape[b + up];
                }
            }
        }
        levels.clear();
        levels.extend(
            power
                .into_iter()
                .map(|p| (10.0 * p.max(1e-30).log10()).max(FLOOR_DB) as f32),
        );
        if written.is_ok() {
            written = out.write(&levels);
        }
    })?;
    written?;
    Ok(BandFrames::from_spool(
        frames.hop_s(),
        frames.window_s(),
        out.finish()?,
    ))
}

/// Energy of a track over the song, linear, at unit gain: from [`LOW_HZ`] to [`HIGH_HZ`],
/// and in all bands.
fn energies(frames: &BandFrames) -> io::Result<(f64, f64)> {
    let range: Vec<usize> = (0..frames.bands())
        .filter(|&b| (LOW_HZ..=HIGH_HZ).contains(&third_octave_band(b).centre_hz))
        .collect();
    let (mut low_mid, mut total) = (0.0, 0.0);
    for_each_frame(frames, |f| {
        low_mid += range
            .iter()
            .map(|&b| 10f64.powf(f[b] as f64 / 10.0))
            .sum::<f64>();
        total += f.iter().map(|&d| 10f64.powf(d as f64 / 10.0)).sum::<f64>();
    })?;
    Ok((low_mid, total))
}

/// How much the mix's low mids grow when the tracks' energies (see [`energies`]) go from
/// `before` to `after`, at `gains_db`, dB. The low mids before count as at least a tenth
/// of the whole mix: a mix with empty low mids has room in them.
fn low_mid_rise_db(before: &[(f64, f64)], after: &[(f64, f64)], gains_db: &[f64]) -> f64 {
    let mix = |tracks: &[(f64, f64)], energy: fn(&(f64, f64)) -> f64| -> f64 {
        tracks
            .iter()
            .zip(gains_db)
            .map(|(e, g)| 10f64.powf(g / 10.0) * energy(e))
            .sum()
    };
    let floor = 0.1 * mix(before, |e| e.1);
    let old = mix(before, |e| e.0).max(floor);
    let new = old + mix(after, |e| e.0) - mix(before, |e| e.0);
    10.0 * (new / old.max(1e-30)).log10()
}

fn shares(frames: &[&BandFrames], gains_db: &[f64], spl: f64) -> Option<Vec<TrackAudibility>> {
    MaskingModel::new(frames)
        .ok()?
        .audibility(gains_db, spl, &AudibilityCriterion::default())
        .ok()
}

/// Checks every track at both playback levels with the faders `gains_db` (muted tracks:
/// `None`), and chooses harmonic enhancement for the kicks and basses that the quiet level
/// loses: the gentlest amount that brings them to the target, else the one that helps most
/// without raising the mix's low mids by more than [`MAX_LOW_MID_RISE_DB`].
pub fn check(
    roles: &[Role],
    frames: &[&BandFrames],
    gains_db: &[Option<f64>],
) -> Vec<PlaybackCheck> {
    let n = roles.len();
    let mut out = vec![
        PlaybackCheck {
            loud: None,
            quiet: None,
            harmonics: None,
            quiet_after: None,
        };
        n
    ];
    if frames.iter().any(|f| f.bands() != THIRD_OCTAVE_BANDS) {
        return out;
    }
    let Ok(before_energies) = frames
        .iter()
        .map(|f| energies(f))
        .collect::<io::Result<Vec<_>>>()
    else {
        return out;
    };
    // A muted track is far below everything else.
    let gains: Vec<f64> = gains_db.iter().map(|g| g.unwrap_or(-200.0)).collect();
    let (Some(loud), Some(quiet)) = (
        shares(frames, &gains, LOUD_SPL),
        shares(frames, &gains, QUIET_SPL),
    ) else {
        return out;
    };
    for i in 0..n {
        out[i].loud = loud[i].share_unmasked;
        out[i].quiet = quiet[i].share_unmasked;
    }
    for i in 0..n {
        if !matches!(roles[i], Role::Kick | Role::Bass) || gains_db[i].is_none() {
            continue;
        }
        let Some(before) = quiet[i].share_unmasked else {
            continue;
        };
        if before >= QUIET_TARGET {
            continue;
        }
        let mut best: Option<(f64, f64)> = None;
        for amount in AMOUNTS_DB {
            let Ok(enhanced) = with_harmonics(frames[i], amount) else {
                break;
            };
            let Ok(enhanced_energies) = energies(&enhanced) else {
                break;
            };
            let mut tried: Vec<&BandFrames> = frames.to_vec();
            tried[i] = &enhanced;
            let mut tried_energies = before_energies.clone();
            tried_energies[i] = enhanced_energies;
            if low_mid_rise_db(&before_energies, &tried_energies, &gains) > MAX_LOW_MID_RISE_DB {
                break;
            }
            let Some(share) = shares(&tried, &gains, QUIET_SPL).and_then(|s| s[i].share_unmasked)
            else {
                continue;
            };
            if best.is_none_or(|(_, s)| share > s + 1e-9) {
                best = Some((amount, share));
            }
            if share >= QUIET_TARGET {
                break;
            }
        }
        // Only worth it where it is heard more often.
        if let Some((amount, share)) = best.filter(|&(_, s)| s > before + 0.01) {
            out[i].harmonics = Some(BassHarmonics {
                amount_db: amount,
                low_hz: LOW_HZ,
                high_hz: HIGH_HZ,
            });
            out[i].quiet_after = Some(share);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testsig::{Rng, band_frames as frames};

    #[test]
    fn a_kick_lost_at_low_volume_gets_harmonics_and_is_heard() {
        let mut rng = Rng(0x4b1c);
        // A sub kick (40–50 Hz, an 808) hitting every 10th frame under a bed of guitars
        // and keys from 400 Hz up whose level varies per frame: at 60 dB SPL the kick's
        // fundamentals fall under the threshold in quiet.
        let kick = frames(400, |t, b| {
            let f = third_octave_band(b).centre_hz;
            if t % 10 < 2 && (35.0..=55.0).contains(&f) {
                -34.0
            } else {
                FLOOR_DB
            }
        });
        let wobble: Vec<f64> = (0..400).map(|_| rng.uniform()).collect();
        let bed = frames(400, |t, b| {
            if (400.0..=8000.0).contains(&third_octave_band(b).centre_hz) {
                -22.0 + wobble[t]
            } else {
                FLOOR_DB
            }
        });
        let roles = [Role::Kick, Role::Keys];
        let gains = [Some(0.0); 2];
        let tracks = [&kick, &bed];
        let c = check(&roles, &tracks, &gains);
        let before = c[0].quiet.unwrap();
        assert!(before < QUIET_TARGET, "the kick is lost quietly: {before}");
        assert!(c[0].loud.unwrap() > 0.9, "and heard loud: {:?}", c[0].loud);
        let h = c[0].harmonics.as_ref().expect("harmonics added");
        let after = c[0].quiet_after.unwrap();
        assert!(
            after >= QUIET_TARGET,
            "{before} → {after} at {} dB",
            h.amount_db
        );
        // No boom: the mix's low mids grow by at most the bound.
        let enhanced = with_harmonics(&kick, h.amount_db).unwrap();
        let e = |f: &BandFrames| energies(f).unwrap();
        let rise = low_mid_rise_db(&[e(&kick), e(&bed)], &[e(&enhanced), e(&bed)], &[0.0; 2]);
        assert!(rise <= MAX_LOW_MID_RISE_DB + 1e-9, "{rise}");
        assert!(c[1].harmonics.is_none(), "only kicks and basses");
    }

    #[test]
    fn a_kick_heard_quietly_is_left_alone() {
        let kick = frames(200, |t, b| {
            let f = third_octave_band(b).centre_hz;
            if t % 10 < 2 && (45.0..=4000.0).contains(&f) {
                -20.0
            } else {
                FLOOR_DB
            }
        });
        let bed = frames(200, |_, b| if b > 20 { -40.0 } else { FLOOR_DB });
        let c = check(
            &[Role::Kick, Role::Pad],
            &[&kick, &bed],
            &[Some(0.0), Some(0.0)],
        );
        assert!(c[0].quiet.unwrap() >= QUIET_TARGET);
        assert!(c[0].harmonics.is_none());
    }
}
