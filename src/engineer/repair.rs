//! Repair decisions: what to fix on each track, from the problems the analysis found.
//! Nothing is switched on for a problem that was not found, so a clean stem passes
//! through the strip bit for bit.

use crate::analysis::problems::{Problems, STEADY_FLOOR_SHARE};
use crate::analysis::relation::Relation;
use crate::engineer::roles::Role;
use crate::session::{DeclipRepair, DenoiseRepair, HumRepair, Repair};

/// Lowest rumble high-pass, Hz: kick and bass keep everything above it.
const LOW_ROLE_HIGHPASS_HZ: f64 = 25.0;
/// Rumble high-pass for every other role, Hz (below the lowest fundamental of a guitar,
/// a voice or a snare; the frequency stage may cut higher by role).
const HIGHPASS_HZ: f64 = 40.0;
/// Noise reduction (the denoiser's gain floor), dB: puts −50 dBFS hiss near −70 dBFS (the
/// gains flicker a little over the floor in noise, so pauses measure 18–20 dB less on the
/// benchmark stems), not so much that quiet passages sound gated. The same at any SNR the
/// denoiser is switched on at: the amount adapts per bin (the Wiener gain follows each
/// bin's SNR), and the floor only sets how far the noise-only bins fall. An older rule
/// eased the floor off under 15 dB SNR, for fear of thinning music near the noise; with
/// music bins keeping their own gain, a violin at 5.7 dB and a bass DI at 6.4 dB SNR
/// changed by 0.07 dB at most in any third-octave band at the full floor, while the
/// eased floor (10.7 and 11.4 dB) left them 11 dB of hiss in the pauses
/// (`bench/repair_check.py`).
const REDUCTION_DB: f64 = 20.0;
/// Hum under this is left, dBFS: even 20 dB of fader gain leaves it under −60 dBFS,
/// under the music and the noise of any recording (a canceller was set for hum at −116 dBFS).
const MIN_HUM_DBFS: f64 = -80.0;
/// A noise floor less than this under the playing level is left alone, dB, unless the
/// track sits at it most of the time ([`STEADY_FLOOR_SHARE`]): there the "floor" is the
/// music's own texture (a pad measured 3.2 dB and was denoised), while every planted hiss
/// on the benchmark corpus measured 5.7 dB or more but the one over a quiet hi-hat.
const MIN_DENOISE_SNR_DB: f64 = 4.5;
/// Longest clipped run the declipper rebuilds, seconds. Measured with
/// `bench/declip_check.py` (corpus stems clipped by 6, 9 and 12 dB, SNR in the clipped
/// regions against the clean original): runs up to 3 ms came back 6–25 dB closer
/// (guitars, piano, vocal; a snare 1.9–3.1 dB), but a sawtooth sub bass clipped on its
/// edges (3.65, 6.2 and 7.4 ms runs at 6, 9 and 12 dB) 3.4–6.1 dB further from it: a few
/// bins of a 46 ms frame cannot hold a sawtooth's corner. The limit sits between the
/// longest run measured good on a pitched stem (2.95 ms, a piano) and the shortest
/// measured bad (3.65 ms).
const MAX_DECLIP_RUN_S: f64 = 0.0033;
/// Longest clipped run rebuilt on a drum (kick, snare, tom, percussion), seconds: a
/// drum's hit decays within the declipper's 46 ms frame, which then holds the whole
/// body. Two kicks' runs of 4.7–5.4 ms came back 3.9–7.3 dB closer (`declip_check.py`,
/// rock_anthem and slow_burn at 9 and 12 dB); none longer was measured.
const MAX_DRUM_DECLIP_RUN_S: f64 = 0.006;

/// The repairs for a track of `role` with `problems` measured at `rate` Hz, and a line per
/// repair saying what was found and what is done about it.
///
/// Clicks are left to the user (`mixwright analyze` lists them; a session's
/// `repair.declick` rebuilds them): the detector also fires on clean percussive material
/// (41 of the 85 clean benchmark stems), and rebuilding there would change music that
/// needed nothing, so it is neither done nor warned about here.
pub fn decide(problems: &Problems, role: Role, rate: u32) -> (Repair, Vec<String>) {
    let mut r = Repair::default();
    let mut notes = Vec::new();
    let max_run_s = if matches!(
        role,
        Role::Kick | Role::Snare | Role::Tom | Role::Percussion
    ) {
        MAX_DRUM_DECLIP_RUN_S
    } else {
        MAX_DECLIP_RUN_S
    };
    if let Some(c) = &problems.clipping
        && c.longest_run as f64 > max_run_s * f64::from(rate)
    {
        notes.push(format!(
            "clipping ({} runs, {} samples, longest {:.1} ms): too long to rebuild, left as is",
            c.runs,
            c.samples,
            c.longest_run as f64 * 1e3 / f64::from(rate.max(1))
        ));
    } else if let Some(c) = &problems.clipping {
        r.declip = Some(DeclipRepair {
            rail: f64::from(c.rail),
            method: Default::default(),
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
    if let Some(h) = &problems.hum
        && h.mains_hz > 0.0
        && h.level_dbfs < MIN_HUM_DBFS
    {
        notes.push(format!(
            "{} Hz hum at {:.1} dBFS: below {MIN_HUM_DBFS} dBFS, inaudible, left",
            h.mains_hz, h.level_dbfs
        ));
    } else if let Some(h) = &problems.hum
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
            "{} Hz hum at {:.1} dBFS: {harmonics} lines cancelled",
            h.mains_hz, h.level_dbfs
        ));
    }
    if let Some(n) = &problems.noise {
        if n.snr_db < MIN_DENOISE_SNR_DB && n.floor_share < STEADY_FLOOR_SHARE {
            notes.push(format!(
                "noise floor {:.1} dBFS only {:.1} dB under the playing level: the music's own \
                 texture, left",
                n.level_dbfs, n.snr_db
            ));
        } else if n.quiet.is_empty() {
            notes.push(format!(
                "noise floor {:.1} dBFS but no passage of noise alone to learn it from: left",
                n.level_dbfs
            ));
        } else {
            let reduction = REDUCTION_DB;
            r.denoise = Some(DenoiseRepair {
                reduction_db: reduction,
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

/// How one track is lined up with the tracks that captured the same source.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Alignment {
    /// Invert its polarity.
    pub invert: bool,
    /// Time shift in samples (≤ 0: moved earlier onto the earliest track of its group).
    pub delay_samples: f64,
}

/// Lines up tracks that captured the same source (kick in/out, snare and overheads, DI and
/// amp), one [`Alignment`] per track.
///
/// Related pairs (as [`crate::analysis::relation::relate`] reports them: strong, or weak and
/// confirmed by their coherence, such as a hi-hat or kick in the overheads) are joined into
/// groups, strongest pair first, each track's arrival time and polarity taken relative to
/// the group through the strongest pairs (a spanning tree, so no pair is counted twice).
/// The weak pairs matter for the polarity vote: a snare and overheads alone are a tie.
/// Every track of a group is then moved earlier onto the earliest one, and the smaller
/// polarity camp is inverted; on a tie the camp without a distant mic (overhead, room)
/// is inverted, since the kit's image rests on those, and failing that the later camp.
pub fn align(relations: &[Relation], roles: &[Role]) -> Vec<Alignment> {
    let n = roles.len();
    // Per track: group id, arrival (samples) and inversion relative to its group.
    let mut group: Vec<usize> = (0..n).collect();
    let mut arrival = vec![0i64; n];
    let mut inverted = vec![false; n];
    let mut pairs: Vec<&Relation> = relations.iter().filter(|r| r.a < n && r.b < n).collect();
    pairs.sort_by(|x, y| y.correlation.abs().total_cmp(&x.correlation.abs()));
    for r in pairs {
        let (ga, gb) = (group[r.a], group[r.b]);
        if ga == gb {
            continue;
        }
        // Re-express b's group in a's terms: b arrives `lag` after a, inverted if r says so.
        let shift = arrival[r.a] + r.lag_samples - arrival[r.b];
        let flip = inverted[r.a] ^ r.polarity_inverted ^ inverted[r.b];
        for k in 0..n {
            if group[k] == gb {
                group[k] = ga;
                arrival[k] += shift;
                inverted[k] ^= flip;
            }
        }
    }
    let mut out = vec![Alignment::default(); n];
    for g in 0..n {
        let members: Vec<usize> = (0..n).filter(|&k| group[k] == g).collect();
        if members.len() < 2 {
            continue;
        }
        let first = members.iter().map(|&k| arrival[k]).min().unwrap_or(0);
        let camp_size = |inv: bool| members.iter().filter(|&&k| inverted[k] == inv).count();
        let has_distant = |inv: bool| {
            members
                .iter()
                .any(|&k| inverted[k] == inv && matches!(roles[k], Role::Overhead | Role::Room))
        };
        let has_first = |inv: bool| {
            members
                .iter()
                .any(|&k| inverted[k] == inv && arrival[k] == first)
        };
        let flip_camp = match camp_size(true).cmp(&camp_size(false)) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal if has_distant(true) != has_distant(false) => {
                !has_distant(true)
            }
            std::cmp::Ordering::Equal => !has_first(true),
        };
        for &k in &members {
            out[k] = Alignment {
                invert: inverted[k] == flip_camp,
                delay_samples: (first - arrival[k]) as f64,
            };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::activity::Segment;
    use crate::analysis::problems::{Clicks, Clipping, Hum, HumLine, NoiseFloor};

    #[test]
    fn nothing_found_nothing_done() {
        let (r, notes) = decide(&Problems::default(), Role::Guitar, 44_100);
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
        let (r, _) = decide(&p, Role::Bass, 44_100);
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
                floor_share: 0.2,
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
        let (r, notes) = decide(&p, Role::LeadVocal, 44_100);
        let d = r.denoise.unwrap();
        assert_eq!((d.reduction_db, d.profile_s), (20.0, vec![[1.0, 2.5]]));
        assert_eq!(
            r.declip,
            Some(DeclipRepair {
                rail: 1.0,
                method: Default::default()
            })
        );
        assert!(r.hum.is_none() && r.highpass_hz.is_none());
        assert_eq!(notes.len(), 2);
    }

    #[test]
    fn inaudible_hum_and_a_floor_close_to_the_music_are_left() {
        let p = Problems {
            hum: Some(Hum {
                mains_hz: 50.0,
                level_dbfs: -116.0,
                harmonics: vec![HumLine {
                    freq_hz: 50.0,
                    level_dbfs: -116.0,
                }],
            }),
            noise: Some(NoiseFloor {
                level_dbfs: -30.0,
                snr_db: 3.2,
                quiet: vec![Segment {
                    start_s: 0.0,
                    end_s: 2.0,
                }],
                floor_share: 0.26,
            }),
            ..Problems::default()
        };
        let (r, notes) = decide(&p, Role::Pad, 44_100);
        assert!(r.is_off(), "{r:?}");
        assert_eq!(notes.len(), 2, "{notes:?}");
        // Just over the limits both are repaired.
        let mut p = p;
        if let Some(h) = p.hum.as_mut() {
            h.level_dbfs = -79.0;
        }
        if let Some(n) = p.noise.as_mut() {
            n.snr_db = 5.7;
        }
        let (r, _) = decide(&p, Role::Pad, 44_100);
        assert!(r.hum.is_some() && r.denoise.is_some(), "{r:?}");
    }

    #[test]
    fn noise_close_to_the_music_gets_the_full_floor() {
        let at_share = |snr: f64, floor_share: f64| {
            let p = Problems {
                noise: Some(NoiseFloor {
                    level_dbfs: -40.0,
                    snr_db: snr,
                    quiet: vec![Segment {
                        start_s: 0.0,
                        end_s: 1.0,
                    }],
                    floor_share,
                }),
                ..Problems::default()
            };
            decide(&p, Role::Guitar, 44_100)
                .0
                .denoise
                .map(|d| d.reduction_db)
        };
        let at = |snr: f64| at_share(snr, 0.2);
        assert_eq!(at(MIN_DENOISE_SNR_DB - 0.1), None);
        // A steady floor over the music is noise however close the music comes (a hiss
        // louder than a quiet hi-hat's hits).
        assert_eq!(at_share(1.0, STEADY_FLOOR_SHARE), Some(REDUCTION_DB));
        assert_eq!(at(5.7), Some(REDUCTION_DB));
        assert_eq!(at(60.0), Some(REDUCTION_DB));
    }

    #[test]
    fn long_clipped_runs_and_clicks_are_reported_not_rebuilt() {
        let clipped = |longest_run| Problems {
            clipping: Some(Clipping {
                rail: 0.5,
                runs: 10,
                samples: 10 * longest_run as u64,
                longest_run,
                times_s: vec![],
            }),
            clicks: Some(Clicks {
                count: 3,
                times_s: vec![0.5, 1.0, 1.5],
            }),
            ..Problems::default()
        };
        // 145 samples is 3.3 ms at 44.1 kHz, 3.0 ms at 48 kHz.
        let (r, notes) = decide(&clipped(146), Role::Bass, 44_100);
        assert!(r.is_off(), "{r:?}");
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("too long to rebuild"));
        assert!(decide(&clipped(145), Role::Bass, 44_100).0.declip.is_some());
        assert!(decide(&clipped(146), Role::Bass, 48_000).0.declip.is_some());
        // A drum's runs are rebuilt up to 6 ms (264 samples at 44.1 kHz).
        assert!(decide(&clipped(264), Role::Kick, 44_100).0.declip.is_some());
        assert!(
            decide(&clipped(265), Role::Snare, 44_100)
                .0
                .declip
                .is_none()
        );
    }

    fn related(a: usize, b: usize, correlation: f64, lag_samples: i64) -> Relation {
        Relation {
            a,
            b,
            correlation,
            coherence: correlation,
            polarity_inverted: correlation < 0.0,
            lag_samples,
            lag_ms: 0.0,
        }
    }

    #[test]
    fn related_tracks_line_up_on_the_earliest_and_the_odd_polarity_flips() {
        // Toms and overheads in phase, the overheads 163 samples late; the snare inverted
        // against the overheads; unrelated tracks are left alone.
        let roles = [
            Role::Tom,
            Role::Overhead,
            Role::Snare,
            Role::Guitar,
            Role::Brass,
        ];
        let rel = [related(0, 1, 0.56, 163), related(1, 2, -0.54, -163)];
        let al = align(&rel, &roles);
        assert_eq!(al[0], Alignment::default());
        assert_eq!((al[1].invert, al[1].delay_samples), (false, -163.0));
        assert_eq!((al[2].invert, al[2].delay_samples), (true, 0.0));
        assert_eq!((al[3], al[4]), (Alignment::default(), Alignment::default()));
    }

    #[test]
    fn a_weak_kit_relation_outvotes_the_overheads() {
        // The overheads inverted against a strong snare and a weak (confirmed) hi-hat: the
        // overheads are the odd one out, though a snare/overheads pair alone is a tie that
        // would flip the snare.
        let roles = [Role::Snare, Role::Overhead, Role::HiHat];
        let rel = [related(0, 1, -0.92, 88), related(1, 2, -0.08, -88)];
        let al = align(&rel, &roles);
        assert_eq!((al[1].invert, al[1].delay_samples), (true, -88.0));
        assert_eq!((al[0], al[2]), (Alignment::default(), Alignment::default()));
    }

    #[test]
    fn a_tie_in_polarity_flips_the_close_mic_or_the_later_track() {
        let snare_oh = align(&[related(0, 1, -0.85, 274)], &[Role::Snare, Role::Overhead]);
        assert!(snare_oh[0].invert);
        assert_eq!(
            (snare_oh[1].invert, snare_oh[1].delay_samples),
            (false, -274.0)
        );
        let kicks = align(&[related(0, 1, -0.96, -92)], &[Role::Kick, Role::Kick]);
        assert_eq!((kicks[0].invert, kicks[0].delay_samples), (true, -92.0));
        assert_eq!(kicks[1], Alignment::default());
    }
}
