//! Repair decisions: what to fix on each track, from the problems the analysis found.
//! Nothing is switched on for a problem that was not found, so a clean stem passes
//! through the strip bit for bit.

use crate::analysis::problems::Problems;
use crate::dsp::declick::Declicker;
use crate::engineer::roles::Role;
use crate::session::{DeclickRepair, DeclipRepair, DenoiseRepair, HumRepair, Repair};

/// Lowest rumble high-pass, Hz: kick and bass keep everything above it.
const LOW_ROLE_HIGHPASS_HZ: f64 = 25.0;
/// Rumble high-pass for every other role, Hz (below the lowest fundamental of a guitar,
/// a voice or a snare; the frequency stage may cut higher by role).
const HIGHPASS_HZ: f64 = 40.0;
/// Most noise reduction, dB: enough to put −50 dBFS hiss under −70 dBFS, not so much
/// that quiet passages sound gated.
const MAX_REDUCTION_DB: f64 = 20.0;
/// Least noise reduction worth doing, dB.
const MIN_REDUCTION_DB: f64 = 6.0;
/// The SNR the noise reduction stops short of: with the music less than this above the
/// noise, the reduction eases off one dB per dB, since the gains would start to cut into
/// the music itself.
const REDUCTION_SNR_MARGIN_DB: f64 = 10.0;

/// The repairs for a track of `role` with `problems`, and a line per repair saying what
/// was found and what is done about it.
pub fn decide(problems: &Problems, role: Role) -> (Repair, Vec<String>) {
    let mut r = Repair::default();
    let mut notes = Vec::new();
    if let Some(c) = &problems.clipping {
        r.declip = Some(DeclipRepair {
            rail: f64::from(c.rail),
        });
        notes.push(format!(
            "clipping ({} runs, {} samples, longest {}): rebuilt above the rail {:.4}",
            c.runs, c.samples, c.longest_run, c.rail
        ));
    }
    if let Some(d) = &problems.dc {
        r.dc = true;
        notes.push(format!("DC offset {:.1} dBFS: removed", d.level_db));
    }
    if let Some(rb) = &problems.rumble {
        let f = if matches!(role, Role::Kick | Role::Bass) {
            LOW_ROLE_HIGHPASS_HZ
        } else {
            HIGHPASS_HZ
        };
        r.highpass_hz = Some(f);
        notes.push(format!(
            "rumble below {} Hz ({:.1} dB): high-pass at {f} Hz",
            rb.below_hz, rb.level_db
        ));
    }
    if let Some(c) = &problems.clicks {
        r.declick = Some(DeclickRepair {
            threshold: Declicker::DEFAULT_THRESHOLD,
        });
        notes.push(format!("{} clicks: found and rebuilt", c.count));
    }
    if let Some(h) = &problems.hum
        && h.mains_hz > 0.0
    {
        let harmonics = h
            .harmonics
            .iter()
            .map(|l| (l.freq_hz / h.mains_hz).round() as usize)
            .max()
            .unwrap_or(1)
            .max(1);
        r.hum = Some(HumRepair {
            mains_hz: h.mains_hz,
            harmonics,
        });
        notes.push(format!(
            "{} Hz hum at {:.1} dBFS: notched at {harmonics} harmonics",
            h.mains_hz, h.level_dbfs
        ));
    }
    if let Some(n) = &problems.noise {
        if n.quiet.is_empty() {
            notes.push(format!(
                "noise floor {:.1} dBFS but no passage of noise alone to learn it from: left",
                n.level_dbfs
            ));
        } else {
            let reduction =
                (n.snr_db - REDUCTION_SNR_MARGIN_DB).clamp(MIN_REDUCTION_DB, MAX_REDUCTION_DB);
            r.denoise = Some(DenoiseRepair {
                reduction_db: (reduction * 10.0).round() / 10.0,
                profile_s: n.quiet.iter().map(|s| [s.start_s, s.end_s]).collect(),
            });
            notes.push(format!(
                "noise floor {:.1} dBFS (SNR {:.1} dB): reduced by up to {reduction:.1} dB",
                n.level_dbfs, n.snr_db
            ));
        }
    }
    (r, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::activity::Segment;
    use crate::analysis::problems::{Clipping, Hum, HumLine, NoiseFloor};

    #[test]
    fn nothing_found_nothing_done() {
        let (r, notes) = decide(&Problems::default(), Role::Guitar);
        assert!(r.is_off() && notes.is_empty());
    }

    #[test]
    fn each_problem_switches_on_its_repair_only() {
        let p = Problems {
            hum: Some(Hum {
                mains_hz: 60.0,
                level_dbfs: -35.0,
                harmonics: [60.0, 120.0, 180.0, 300.0]
                    .iter()
                    .map(|&f| HumLine {
                        freq_hz: f,
                        level_dbfs: -40.0,
                    })
                    .collect(),
            }),
            ..Problems::default()
        };
        let (r, _) = decide(&p, Role::Bass);
        assert_eq!(
            r.hum,
            Some(HumRepair {
                mains_hz: 60.0,
                harmonics: 5
            })
        );
        assert!(r.denoise.is_none() && r.declip.is_none() && !r.dc);

        let p = Problems {
            noise: Some(NoiseFloor {
                level_dbfs: -50.0,
                snr_db: 35.0,
                quiet: vec![Segment {
                    start_s: 1.0,
                    end_s: 2.5,
                }],
            }),
            clipping: Some(Clipping {
                rail: 1.0,
                runs: 9,
                samples: 90,
                longest_run: 20,
                times_s: vec![],
            }),
            ..Problems::default()
        };
        let (r, notes) = decide(&p, Role::LeadVocal);
        let d = r.denoise.unwrap();
        assert_eq!((d.reduction_db, d.profile_s), (20.0, vec![[1.0, 2.5]]));
        assert_eq!(r.declip, Some(DeclipRepair { rail: 1.0 }));
        assert!(r.hum.is_none() && r.highpass_hz.is_none());
        assert_eq!(notes.len(), 2);
    }

    #[test]
    fn noisier_recordings_get_gentler_reduction() {
        let at = |snr: f64| {
            let p = Problems {
                noise: Some(NoiseFloor {
                    level_dbfs: -40.0,
                    snr_db: snr,
                    quiet: vec![Segment {
                        start_s: 0.0,
                        end_s: 1.0,
                    }],
                }),
                ..Problems::default()
            };
            decide(&p, Role::Guitar).0.denoise.unwrap().reduction_db
        };
        assert!(at(15.0) < at(25.0) && at(25.0) < at(40.0));
        assert_eq!((at(5.0), at(60.0)), (MIN_REDUCTION_DB, MAX_REDUCTION_DB));
    }
}
