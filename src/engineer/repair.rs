//! Repair decisions: what to fix on each track, from the problems the analysis found.
//! Nothing is switched on for a problem that was not found, so a clean stem passes
//! through the strip bit for bit.

use crate::analysis::bleed::Bleed;
use crate::analysis::problems::{Problems, STEADY_FLOOR_SHARE};
use crate::analysis::relation::Relation;
use crate::dsp::declip::DeclipMethod;
use crate::engineer::roles::Role;
use crate::session::{DeclipRepair, DenoiseRepair, GateRepair, HumRepair, Repair};

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
/// A DC offset on a declipped track up to this share of (clipped share × rail) is put
/// down to the clipping and left. On the benchmark's nine clipped stems (no DC planted)
/// the mean measured 1–10 % of clipped share × rail (a saw sub bass 2.8 %, a guitar
/// 10 %); the six planted offsets are all on unclipped stems.
const CLIP_DC_SHARE: f64 = 0.25;

/// How far the gate lowers bleed between hits, dB: an expander's worth, not a mute, so the
/// kit keeps its air between the hits while the close mic stops smearing the other drums
/// (and their timing against the overheads).
const GATE_RANGE_DB: f64 = 15.0;
/// Gate opening time, ms (looked ahead twice this, so a hit's first transient passes whole).
const GATE_ATTACK_MS: f64 = 1.0;
/// Gate hold, as a share of the hits' measured 12 dB decay, and its limits, ms: the gate
/// closes once a hit has fallen under the loudest bleed, where its tail is masked anyway.
const GATE_HOLD_SHARE: f64 = 0.1;
const GATE_HOLD_MS: (f64, f64) = (5.0, 50.0);
/// Gate release time constant as a share of the hits' 12 dB decay time, and its limits,
/// ms: half the hit's own time constant (12 dB is 1.38 of them), so the tail fades three
/// times as fast as it rings, not cut, and the gate is down by the time the next bleed
/// comes (a kick's 350 ms to the off-beat snare: 15 dB down in `bleed_on_a_kick_…`; a
/// whole time constant left it 12).
const GATE_RELEASE_SHARE: f64 = 0.36;
const GATE_RELEASE_MS: (f64, f64) = (10.0, 150.0);

/// Whether `role` is a close drum mic, the tracks a gate against bleed is for.
pub fn is_close_drum_mic(role: Role) -> bool {
    matches!(role, Role::Kick | Role::Snare | Role::Tom)
}

/// The repairs for a track of `role` with `problems` (and `bleed`, when measured) found at
/// `rate` Hz, and a line per repair saying what was found and what is done about it.
///
/// Clicks are left to the user (`mixwright analyze` lists them; a session's
/// `repair.declick` rebuilds them): the detector also fires on clean percussive material
/// (41 of the 85 clean benchmark stems), and rebuilding there would change music that
/// needed nothing, so it is neither done nor warned about here.
pub fn decide(
    problems: &Problems,
    bleed: Option<&Bleed>,
    role: Role,
    rate: u32,
) -> (Repair, Vec<String>) {
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
        // Runs a ramp's corner explains (a sawtooth's) are rebuilt at any length; the
        // declipper leaves every other run as recorded.
        r.declip = Some(DeclipRepair {
            rail: f64::from(c.rail),
            method: DeclipMethod::Corner,
            frame_ms: None,
        });
        notes.push(format!(
            "clipping ({} runs, {} samples, longest {:.1} ms): too long to rebuild but at a \
             straight ramp's corner, where that is rebuilt",
            c.runs,
            c.samples,
            c.longest_run as f64 * 1e3 / f64::from(rate.max(1))
        ));
    } else if let Some(c) = &problems.clipping {
        r.declip = Some(DeclipRepair {
            rail: f64::from(c.rail),
            method: DeclipMethod::Auto,
            frame_ms: None,
        });
        notes.push(format!(
            "clipping ({} runs, {} samples, longest {}): rebuilt above the rail {:.4}",
            c.runs, c.samples, c.longest_run, c.rail
        ));
    }
    // Clipping cuts a waveform's peaks unevenly between its sides, which moves its mean;
    // the rebuild puts them back. A DC high-pass there would only shift a low note's phase
    // (a saw sub bass rebuilt 11.4 dB closer came back 4.5 dB closer with it).
    let clip_dc = match (&problems.clipping, &r.declip) {
        (Some(c), Some(_)) => CLIP_DC_SHARE * c.share * f64::from(c.rail),
        _ => 0.0,
    };
    if let Some(d) = &problems.dc {
        let mean = 10f64.powf(d.level_db / 20.0);
        if mean <= clip_dc {
            notes.push(format!(
                "DC offset {:.1} dBFS: what the clipping leaves, gone with the rebuild",
                d.level_db
            ));
        } else {
            r.dc = true;
            notes.push(format!("DC offset {:.1} dBFS: removed", d.level_db));
        }
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
    if let Some(b) = bleed
        && b.found
        && is_close_drum_mic(role)
    {
        let gate = GateRepair {
            threshold_db: b.threshold_dbfs,
            hysteresis_db: b.hysteresis_db,
            range_db: GATE_RANGE_DB,
            attack_ms: GATE_ATTACK_MS,
            hold_ms: (GATE_HOLD_SHARE * b.decay_ms).clamp(GATE_HOLD_MS.0, GATE_HOLD_MS.1),
            release_ms: (GATE_RELEASE_SHARE * b.decay_ms)
                .clamp(GATE_RELEASE_MS.0, GATE_RELEASE_MS.1),
        };
        notes.push(format!(
            "bleed at {:.1} dBFS between hits at {:.1} dBFS: gated at {:.1} dBFS, \
             {GATE_RANGE_DB:.0} dB down between hits",
            b.bleed_dbfs, b.hit_dbfs, gate.threshold_db
        ));
        r.gate = Some(gate);
    }
    (r, notes)
}

/// Whether tracks of roles `a` and `b` can be two mics on one source. Two close mics on
/// different kit pieces (kick and snare, snare and hi-hat, a tom and the snare) cannot:
/// whatever they share is one drum's bleed in the other's mic, a delayed copy of the other
/// drum that the analysis correlates like a second mic on it (a snare 15 dB under the
/// kick in its mic: correlation 0.14, coherence-confirmed, 1.4 ms off). Lining the kick up
/// on that copy would move the kick's own hits off the overheads by the bleed's path.
/// Mics of one role (kick in/out, snare top/bottom), a close mic and a distant one
/// (overheads, room), and anything off the kit (DI and amp) can.
pub fn can_share_source(a: Role, b: Role) -> bool {
    let kit_piece = |r: Role| {
        matches!(
            r,
            Role::Kick | Role::Snare | Role::Tom | Role::HiHat | Role::Percussion
        )
    };
    a == b || !kit_piece(a) || !kit_piece(b)
}

/// The pairs of `relations` that can be on one source ([`can_share_source`] for their
/// `roles`), and a note for each one left out.
pub fn on_one_source(
    relations: &[Relation],
    roles: &[Role],
    names: &[&str],
) -> (Vec<Relation>, Vec<String>) {
    let mut notes = Vec::new();
    let kept = relations
        .iter()
        .filter(|r| {
            let (Some(&ra), Some(&rb)) = (roles.get(r.a), roles.get(r.b)) else {
                return false;
            };
            let keep = can_share_source(ra, rb);
            if !keep {
                let name = |k: usize| names.get(k).copied().unwrap_or("?");
                notes.push(format!(
                    "{} and {}: correlated {:.2} at {:+.2} ms, but close mics on different \
                     drums ({} and {}): bleed, not lined up",
                    name(r.a),
                    name(r.b),
                    r.correlation,
                    r.lag_ms,
                    ra.name(),
                    rb.name()
                ));
            }
            keep
        })
        .cloned()
        .collect();
    (kept, notes)
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
/// confirmed by their coherence, such as a hi-hat or kick in the overheads; and only those
/// [`on_one_source`] keeps, for the bleed between close mics is related too) are joined into
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
    use crate::analysis::problems::{Clicks, Clipping, DcOffset, Hum, HumLine, NoiseFloor};
    use crate::console::strip::RepairChain;
    use crate::dsp::testsig::{Rng, kick_and_snare_bleed, spool, to_f32, to_f64};

    #[test]
    fn nothing_found_nothing_done() {
        let (r, notes) = decide(&Problems::default(), None, Role::Guitar, 44_100);
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
        let (r, _) = decide(&p, None, Role::Bass, 44_100);
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
                share: 0.0,
            }),
            ..Problems::default()
        };
        let (r, notes) = decide(&p, None, Role::LeadVocal, 44_100);
        let d = r.denoise.unwrap();
        assert_eq!((d.reduction_db, d.profile_s), (20.0, vec![[1.0, 2.5]]));
        assert_eq!(
            r.declip,
            Some(DeclipRepair {
                rail: 1.0,
                method: DeclipMethod::Auto,
                frame_ms: None,
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
        let (r, notes) = decide(&p, None, Role::Pad, 44_100);
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
        let (r, _) = decide(&p, None, Role::Pad, 44_100);
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
            decide(&p, None, Role::Guitar, 44_100)
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
    fn long_clipped_runs_take_the_corner_fit_and_clicks_are_reported_not_rebuilt() {
        let clipped = |longest_run| Problems {
            clipping: Some(Clipping {
                rail: 0.5,
                runs: 10,
                samples: 10 * longest_run as u64,
                longest_run,
                times_s: vec![],
                share: 0.0,
            }),
            clicks: Some(Clicks {
                count: 3,
                times_s: vec![0.5, 1.0, 1.5],
            }),
            ..Problems::default()
        };
        // 145 samples is 3.3 ms at 44.1 kHz, 3.0 ms at 48 kHz.
        let method = |run, role, rate| {
            decide(&clipped(run), None, role, rate)
                .0
                .declip
                .map(|d| d.method)
        };
        // Longer runs are left to the corner fit alone.
        let (r, notes) = decide(&clipped(146), None, Role::Bass, 44_100);
        assert!(r.declick.is_none());
        assert_eq!(r.declip.map(|d| d.method), Some(DeclipMethod::Corner));
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("too long to rebuild"));
        assert_eq!(method(145, Role::Bass, 44_100), Some(DeclipMethod::Auto));
        assert_eq!(method(146, Role::Bass, 48_000), Some(DeclipMethod::Auto));
        // A drum's runs are rebuilt up to 6 ms (264 samples at 44.1 kHz).
        assert_eq!(method(264, Role::Kick, 44_100), Some(DeclipMethod::Auto));
        assert_eq!(method(265, Role::Snare, 44_100), Some(DeclipMethod::Corner));
    }

    #[test]
    fn a_dc_offset_the_clipping_explains_is_left_to_the_rebuild() {
        // 10 % of the samples clipped at 0.5: a mean up to 0.0125 can be the clipping's.
        let p = |mean: f64, clipped: bool| Problems {
            dc: Some(DcOffset {
                per_channel: vec![mean],
                level_db: 20.0 * mean.log10(),
            }),
            clipping: clipped.then(|| Clipping {
                rail: 0.5,
                runs: 100,
                samples: 1000,
                longest_run: 20,
                times_s: vec![],
                share: 0.1,
            }),
            ..Problems::default()
        };
        let dc = |mean, clipped| decide(&p(mean, clipped), None, Role::Bass, 44_100).0.dc;
        assert!(!dc(0.01, true));
        assert!(dc(0.015, true));
        assert!(dc(0.01, false));
    }

    /// Measures `x` (mono, 48 kHz) for bleed as the analysis does.
    fn bleed_of(x: &[f64]) -> Option<Bleed> {
        let mut m = crate::analysis::bleed::BleedMeter::new(1, 48_000);
        for block in to_f32(x).chunks(4096) {
            m.push(block);
        }
        m.finish()
    }

    /// The gain the repair of `x` (a mono 48 kHz close mic of `role`, its bleed measured
    /// as the analysis does) puts on each sample, played as the console plays it (latency
    /// compensated): output over input, NaN where the input is too near a zero crossing to
    /// tell. The gate is a gain, so what it did to each part of `x` is that gain times it.
    fn repair_gain(x: &[f64], role: Role) -> (Repair, Vec<String>, Vec<f64>) {
        let found = bleed_of(x);
        let (r, notes) = decide(&Problems::default(), found.as_ref(), role, 48_000);
        let stem = spool(&to_f32(x), 1);
        let mut chain = RepairChain::new(&r, &stem, 48_000).unwrap().unwrap();
        let mut y = vec![0.0f32; x.len()];
        for (k, block) in y.chunks_mut(4096).enumerate() {
            chain.read(&stem, (k * 4096) as u64, block).unwrap();
        }
        let gain = to_f64(&y)
            .iter()
            .zip(x)
            .map(|(o, i)| if i.abs() > 1e-4 { o / i } else { f64::NAN })
            .collect();
        (r, notes, gain)
    }

    /// Energy of `v` over the samples `idx`.
    fn energy_at(v: &[f64], idx: &[usize]) -> f64 {
        idx.iter().map(|&i| v[i] * v[i]).sum()
    }

    /// A snare mic: backbeats, ghost strokes 15 dB under them, and a kick's bleed 30 dB
    /// under them in between. The ghost strokes fill the level just under the hits, so the
    /// bleed is found in the cluster under them: gated, and the ghost notes kept.
    #[test]
    fn bleed_under_ghost_notes_is_gated_and_the_ghost_notes_kept() {
        use crate::dsp::testsig::{KICK, SNARE, drum_hits};
        const RATE: f64 = 48_000.0;
        let mut rng = Rng(0x6057);
        let n = (24.0 * RATE) as usize;
        let db = |v: f64| 10f64.powf(v / 20.0);
        let mut own = drum_hits(&mut rng, n, RATE, SNARE, (0.1, 1.2), 0.5, 1.0);
        let ghosts = drum_hits(&mut rng, n, RATE, SNARE, (0.7, 1.2), 0.5 * db(-15.0), 1.0);
        for (v, (g, e)) in own
            .iter_mut()
            .zip(ghosts.iter().zip(rng.noise(n, db(-70.0))))
        {
            *v += g + e;
        }
        let bleed: Vec<f64> = drum_hits(&mut rng, n, RATE, KICK, (0.45, 1.2), 0.5 * db(-30.0), 1.0)
            .iter()
            .zip(drum_hits(
                &mut rng,
                n,
                RATE,
                KICK,
                (1.05, 1.2),
                0.5 * db(-30.0),
                1.0,
            ))
            .map(|(a, b)| a + b)
            .collect();
        let x: Vec<f64> = own.iter().zip(&bleed).map(|(a, b)| a + b).collect();
        let found = bleed_of(&x).unwrap();
        assert!(found.found && found.soft_strokes >= 16, "{found:?}");
        let (r, _, gain) = repair_gain(&x, Role::Snare);
        let gate = r.gate.expect("gate on");
        let apply = |v: &[f64]| -> Vec<f64> { v.iter().zip(&gain).map(|(a, g)| a * g).collect() };
        // Where the bleed is 10 dB over the snare: lowered by the gate's range, nearly.
        let between: Vec<usize> = (0..n)
            .filter(|&i| !gain[i].is_nan() && bleed[i].powi(2) > 10.0 * own[i].powi(2))
            .collect();
        assert!(between.len() > n / 20, "{}", between.len());
        let drop =
            10.0 * (energy_at(&bleed, &between) / energy_at(&apply(&bleed), &between)).log10();
        assert!(drop >= 12.0, "bleed lowered by {drop:.1} dB ({gate:?})");
        // Each ghost stroke's first 100 ms keep their energy within 1 dB.
        let period = (1.2 * RATE) as usize;
        for start in (0..n - period)
            .step_by(period)
            .map(|s| s + (0.7 * RATE) as usize)
        {
            let w: Vec<usize> = (start..start + (0.1 * RATE) as usize)
                .filter(|&i| !gain[i].is_nan())
                .collect();
            let kept = 10.0 * (energy_at(&apply(&ghosts), &w) / energy_at(&ghosts, &w)).log10();
            assert!(
                kept.abs() < 1.0,
                "ghost at {start}: {kept:.2} dB ({gate:?})"
            );
        }
    }

    #[test]
    fn bleed_on_a_kick_is_gated_between_hits_and_the_hits_kept() {
        const RATE: f64 = 48_000.0;
        let (kick, bleed) = kick_and_snare_bleed(&mut Rng(0x6a7e), 20.0, RATE, 20.0);
        let x: Vec<f64> = kick.iter().zip(&bleed).map(|(a, b)| a + b).collect();
        let found = bleed_of(&x);
        let (r, notes, gain) = repair_gain(&x, Role::Kick);
        let gate = r.gate.clone().expect("gate on");
        assert!(notes.iter().any(|n| n.contains("bleed")), "{notes:?}");
        // Not on a role that is not a close drum mic, nor where nothing was found.
        assert!(
            decide(&Problems::default(), found.as_ref(), Role::Overhead, 48_000)
                .0
                .is_off()
        );
        let alone = bleed_of(&kick);
        assert!(
            decide(&Problems::default(), alone.as_ref(), Role::Kick, 48_000)
                .0
                .is_off()
        );
        let y: Vec<f64> = x.iter().zip(&gain).map(|(v, g)| v * g).collect();
        assert!(
            gain.iter()
                .all(|g| g.is_nan() || (-1e-3..=1.0 + 1e-3).contains(g))
        );
        // Between hits: where the bleed is 10 dB over the kick (its tail and hiss).
        let between: Vec<usize> = (0..x.len())
            .filter(|&i| !gain[i].is_nan() && bleed[i].powi(2) > 10.0 * kick[i].powi(2))
            .collect();
        assert!(between.len() > x.len() / 20, "{}", between.len());
        let e = energy_at;
        let gated: Vec<f64> = bleed.iter().zip(&gain).map(|(b, g)| b * g).collect();
        let drop = 10.0 * (e(&bleed, &between) / e(&gated, &between)).log10();
        assert!(drop >= 12.0, "bleed lowered by {drop:.1} dB ({gate:?})");
        // Each hit: its first 200 ms keep their energy (the gate's gain on the kick alone)
        // and peak within 1 dB.
        let period = (0.5 * RATE) as usize;
        for start in (0..x.len() - period)
            .step_by(period)
            .map(|s| s + (0.1 * RATE) as usize)
        {
            let w: Vec<usize> = (start..start + (0.2 * RATE) as usize)
                .filter(|&i| !gain[i].is_nan())
                .collect();
            let kept: Vec<f64> = kick.iter().zip(&gain).map(|(k, g)| k * g).collect();
            let energy = 10.0 * (e(&kept, &w) / e(&kick, &w)).log10();
            let peak = |v: &[f64]| w.iter().fold(0.0f64, |m, &i| m.max(v[i].abs()));
            let peak_db = 20.0 * (peak(&y) / peak(&x)).log10();
            assert!(
                energy.abs() < 1.0 && peak_db.abs() < 1.0,
                "hit at {start}: energy {energy:.2} dB, peak {peak_db:.2} dB ({gate:?})"
            );
        }
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

    /// `x` `d` whole samples later, times `g`.
    fn later(x: &[f64], d: usize, g: f64) -> Vec<f64> {
        (0..x.len())
            .map(|i| if i >= d { g * x[i - d] } else { 0.0 })
            .collect()
    }

    /// A kit: a kick in and a kick out (inverted, 1 ms later), the kick-in mic holding the
    /// snare's bleed 15 dB down, 2 ms late; a snare mic; overheads with both drums under
    /// hiss-like cymbals, 3 ms late. The analysis relates the kick-in and the snare through
    /// the bleed; lined up, the kick is not moved onto the snare, but the kick out is
    /// still put in time and polarity with the kick in, and the snare with the overheads.
    #[test]
    fn a_kick_with_snare_bleed_is_not_lined_up_on_the_snare() {
        const RATE: f64 = 48_000.0;
        let ms = |v: f64| (v * RATE / 1000.0) as usize;
        let mut rng = Rng(0x5a4e);
        let (kick, _) = kick_and_snare_bleed(&mut rng, 12.0, RATE, 15.0);
        let n = kick.len();
        let snare = crate::dsp::testsig::drum_hits(
            &mut rng,
            n,
            RATE,
            crate::dsp::testsig::SNARE,
            (0.35, 0.5),
            0.5,
            1.0,
        );
        let sum =
            |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(x, y)| x + y).collect() };
        let kick_in = sum(&kick, &later(&snare, ms(2.0), 10f64.powf(-15.0 / 20.0)));
        let kick_out = later(&kick, ms(1.0), -0.8);
        let cymbals: Vec<f64> = rng.noise(n, 0.05);
        let overheads = sum(
            &sum(&later(&kick, ms(3.0), 0.3), &later(&snare, ms(3.0), 0.4)),
            &cymbals,
        );
        let tracks = [&kick_in, &kick_out, &snare, &overheads];
        let roles = [Role::Kick, Role::Kick, Role::Snare, Role::Overhead];
        let spools: Vec<_> = tracks.iter().map(|t| spool(&to_f32(t), 1)).collect();
        let refs: Vec<_> = spools.iter().collect();
        let rel = crate::analysis::relation::relate(&refs, RATE as u32).unwrap();
        // The premise: the bleed relates the kick in and the snare, 2 ms apart.
        let bleed = rel.iter().find(|r| (r.a, r.b) == (0, 2));
        assert!(
            bleed.is_some_and(|r| (r.lag_samples + ms(2.0) as i64).abs() <= 1),
            "{rel:?}"
        );
        let (kept, notes) = on_one_source(&rel, &roles, &["kick_in", "kick_out", "snare", "oh"]);
        assert!(kept.iter().all(|r| (r.a, r.b) != (0, 2)), "{kept:?}");
        assert!(
            notes.iter().any(|n| n.contains("kick_in and snare")),
            "{notes:?}"
        );
        let al = align(&kept, &roles);
        // Lined up on all the pairs, the kick would move 2 ms off the snare and overheads.
        let moved = align(&rel, &roles);
        assert_eq!(
            moved[0].delay_samples - moved[2].delay_samples,
            -(ms(2.0) as f64),
            "{moved:?}"
        );
        // Every track onto the earliest (the snare and the kick in), relative times kept.
        let start = |k: usize| al[k].delay_samples;
        assert_eq!(start(0), 0.0, "{al:?}");
        assert_eq!(start(1), -(ms(1.0) as f64), "{al:?}");
        assert_eq!(start(2), 0.0, "{al:?}");
        assert_eq!(start(3), -(ms(3.0) as f64), "{al:?}");
        // The kick out is the odd polarity.
        assert_eq!(
            al.iter().map(|a| a.invert).collect::<Vec<_>>(),
            [false, true, false, false]
        );
    }

    #[test]
    fn close_mics_on_different_drums_do_not_share_a_source() {
        use Role::*;
        for (a, b) in [
            (Kick, Snare),
            (Snare, HiHat),
            (Tom, Snare),
            (Kick, Percussion),
        ] {
            assert!(
                !can_share_source(a, b) && !can_share_source(b, a),
                "{a:?} {b:?}"
            );
        }
        for (a, b) in [
            (Kick, Kick),
            (Snare, Snare),
            (Snare, Overhead),
            (Kick, Room),
            (Bass, Bass),
            (Guitar, Guitar),
            (HiHat, Overhead),
        ] {
            assert!(
                can_share_source(a, b) && can_share_source(b, a),
                "{a:?} {b:?}"
            );
        }
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
