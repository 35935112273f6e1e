//! Level: faders set on perceived loudness where each track plays, by role priority
//! ([`set_faders`]), then moved by what the listener hears of each part in the mix as
//! played ([`balance_by_audibility`]).

use super::frequency;
use super::roles::Role;
use super::words::{self, HeardWords};
use crate::analysis::masking::MaskingModel;
use crate::analysis::spectrum::BandFrames;

/// Where the lead vocal sits before the master brings the mix to its target, LUFS.
/// Leaves headroom on the bus so the limiter only touches peaks.
pub const ANCHOR_LUFS: f64 = -20.0;
/// Faders never go beyond this, dB.
pub const MAX_BOOST_DB: f64 = 40.0;

/// Loudness of a role where it plays, relative to the lead vocal, dB.
///
/// The lead is the loudest element; then kick, snare and bass; then the harmony
/// instruments; pads and effects sit behind.
pub fn role_offset_db(role: Role) -> f64 {
    match role {
        Role::LeadVocal => 0.0,
        Role::Kick | Role::Snare => -3.0,
        Role::Bass => -4.0,
        Role::BackingVocal => -7.0,
        Role::Guitar | Role::Keys => -7.0,
        Role::Synth | Role::Brass => -8.0,
        Role::Tom => -8.0,
        Role::Overhead | Role::Strings => -9.0,
        Role::Percussion | Role::HiHat => -11.0,
        Role::Pad => -12.0,
        Role::Room | Role::Fx => -14.0,
        Role::Other => -8.0,
    }
}

/// A fader decision for one track, with the reason in words when something was unusual.
#[derive(Debug, Clone, PartialEq)]
pub struct Fader {
    /// Fader in dB.
    pub db: f64,
    /// Mute (a silent stem).
    pub mute: bool,
    /// Why, when the rule could not be applied as is.
    pub note: Option<String>,
}

/// Sets a fader per track so that its active loudness lands at the anchor plus its role's
/// offset. Tracks sharing a role share its loudness (n tracks are each 10·log10(n) dB down),
/// so eight tom mics are not eight times as loud as one.
pub fn set_faders(roles: &[Role], active_lufs: &[Option<f64>]) -> Vec<Fader> {
    roles
        .iter()
        .zip(active_lufs)
        .map(|(&role, &active)| {
            let Some(active) = active else {
                return Fader {
                    db: 0.0,
                    mute: true,
                    note: Some("silent stem: muted".into()),
                };
            };
            let share = roles.iter().filter(|&&r| r == role).count() as f64;
            let want = ANCHOR_LUFS + role_offset_db(role) - 10.0 * share.log10();
            let db = want - active;
            if db > MAX_BOOST_DB {
                Fader {
                    db: MAX_BOOST_DB,
                    mute: false,
                    note: Some(format!(
                        "very quiet stem ({active:.1} LUFS): boost limited to {MAX_BOOST_DB} dB"
                    )),
                }
            } else {
                Fader {
                    db,
                    mute: false,
                    note: None,
                }
            }
        })
        .collect()
}

/// Most the audibility balance lifts a role group above where the level stage put it, dB.
pub const MAX_LIFT_DB: f64 = 3.0;
/// Most it lowers one, dB.
pub const MAX_CUT_DB: f64 = 3.0;
/// Least gain in [`frequency::score`] a move must bring: a point of share in the mean, half
/// of one in the worst. Smaller gains are within what separates the mix of clean stems from
/// the mix of the same stems damaged and repaired, and moves taken on them would set the two
/// balances apart.
const MIN_GAIN: f64 = 0.01;
/// One move of a group's faders, dB.
const STEP_DB: f64 = 1.0;
/// Most moves tried in a song.
const MAX_MOVES: usize = 40;
/// Most the lead's loudness relative to the mix may move, dB: it keeps the place the words
/// model gave it (inside [`super::words::LEAD_VS_MIX_DB`], give or take this).
pub const MAX_LEAD_SHIFT_DB: f64 = 0.5;

/// One track as the audibility balance hears it.
pub struct BalanceTrack<'a> {
    /// Its role: tracks of one role move together, the lead vocal never.
    pub role: Role,
    /// Its short-time third-octave frames as they reach the mix bus (fader, pan, EQ and
    /// dips in).
    pub frames: &'a BandFrames,
    /// Whether it plays (not muted).
    pub playing: bool,
}

/// The fader moves of the audibility balance and the song's audibility around them.
#[derive(Debug, Clone, PartialEq)]
pub struct AudibleBalance {
    /// Per track, the move of its fader, dB (0 for the lead, muted tracks and parts left as
    /// they were).
    pub moves_db: Vec<f64>,
    /// Mean share of unmasked frames over the playing tracks, loud and quiet, before.
    pub before: [f64; 2],
    /// The same after the moves.
    pub after: [f64; 2],
}

/// Whether the balance may lift a part of this role: not the lead (the words model set it),
/// nor the kit or the bass, whose hits would drive the master's limiter and pierce the
/// frames where the words are heard; they are heard by lowering what masks them.
fn may_lift(role: Role) -> bool {
    !matches!(
        role,
        Role::LeadVocal
            | Role::Kick
            | Role::Snare
            | Role::Tom
            | Role::HiHat
            | Role::Percussion
            | Role::Overhead
            | Role::Room
            | Role::Bass
    )
}

/// The words model of the tracks as played (`None` without a lead that sings).
fn played_words(tracks: &[BalanceTrack<'_>]) -> Option<words::PlayedWords> {
    words::PlayedWords::new(
        &tracks
            .iter()
            .map(|t| words::WordsTrack {
                role: t.role,
                frames: t.frames,
                gain_db: t.playing.then_some(0.0),
            })
            .collect::<Vec<_>>(),
    )
}

/// Whether a balance keeps the lead's words as the words model hears them (`now`: before any
/// move): the median SII over the sung frames does not fall at either playback level, and
/// the lead's loudness against the mix moves by at most [`MAX_LEAD_SHIFT_DB`].
fn keeps_the_words(now: &HeardWords, after: &HeardWords) -> bool {
    after.sii.iter().zip(&now.sii).all(|(a, b)| a >= b)
        && (after.lead_vs_mix_db - now.lead_vs_mix_db).abs() <= MAX_LEAD_SHIFT_DB
}

/// Moves the faders of the parts, a role group at a time, until each is heard in the mix as
/// played (a balance by audibility, not by meters alone): the part heard least is lifted, or the
/// groups that mask it most around its home bands are lowered, or both, one
/// [`STEP_DB`] at a time, and a move is kept only when it raises the song's audibility
/// ([`frequency::score`]: the mean over tracks and levels plus twice the worst), stays
/// within [`MAX_LIFT_DB`] / [`MAX_CUT_DB`] of the level stage and keeps the lead's words
/// ([`keeps_the_words`]). Tracks of one role move together, so a double-tracked pair keeps its
/// internal balance; the lead vocal never moves (the words model set it). Frames off the
/// masking model's grid leave every fader where it is.
pub fn balance_by_audibility(tracks: &[BalanceTrack<'_>]) -> AudibleBalance {
    let n = tracks.len();
    let mut out = AudibleBalance {
        moves_db: vec![0.0; n],
        before: [0.0; 2],
        after: [0.0; 2],
    };
    let playing: Vec<usize> = (0..n).filter(|&i| tracks[i].playing).collect();
    let frames: Vec<&BandFrames> = playing.iter().map(|&i| tracks[i].frames).collect();
    let Ok(model) = MaskingModel::new(&frames) else {
        return out;
    };
    let m = playing.len();
    let role = |k: usize| tracks[playing[k]].role;
    let lead = (0..m).find(|&k| role(k) == Role::LeadVocal);
    let weighted = frequency::weighted_powers(&frames, &vec![0.0; m]);
    let words = played_words(tracks);
    // The words' moves are per track of the song, the search's per playing track.
    let on_song = |g: &[f64]| {
        let mut all = vec![0.0; n];
        for (k, &i) in playing.iter().enumerate() {
            all[i] = g[k];
        }
        all
    };
    let words_now = words.as_ref().map(|w| w.hear(&vec![0.0; n]));
    let hear = |g: &[f64]| frequency::hear_at_levels(&model, g, &[]);
    let mut g = vec![0.0; m];
    let Some(mut now) = hear(&g) else {
        return out;
    };
    let mut score = frequency::score(&now.0);
    out.before = frequency::mean_per_level(&now.0);
    // A group is a role; its move is each member's.
    let group_of = |k: usize| (0..m).filter(move |&j| role(j) == role(k));
    let mut served = vec![false; m];
    for _ in 0..MAX_MOVES {
        let Some(i) = frequency::most_masked(&now.0, |k| !served[k]) else {
            break;
        };
        // The other groups by what they put around i's home bands, loudest first.
        let centres = frequency::characteristic_centres(&now.1[i]);
        let mut maskers: Vec<(usize, f64)> = (0..m)
            .filter(|&j| Some(j) != lead && role(j) != role(i))
            .filter(|&j| group_of(j).next() == Some(j))
            .map(|j| {
                let p = group_of(j)
                    .flat_map(|k| centres.iter().map(move |&c| (k, c)))
                    .map(|(k, c)| frequency::power_near(&weighted[k], c))
                    .sum::<f64>();
                (j, p)
            })
            .collect();
        maskers.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let maskers: Vec<usize> = maskers
            .into_iter()
            .take(frequency::MASKERS_TRIED)
            .map(|(j, _)| j)
            .collect();
        let mut tries: Vec<Vec<(usize, f64)>> =
            maskers.iter().map(|&j| vec![(j, -STEP_DB)]).collect();
        if may_lift(role(i)) {
            tries.push(vec![(i, STEP_DB)]);
            tries.push(
                std::iter::once((i, STEP_DB))
                    .chain(maskers.iter().take(2).map(|&j| (j, -STEP_DB)))
                    .collect(),
            );
        }
        let mut found: Option<(Vec<f64>, (frequency::Shares, _), f64)> = None;
        for steps in tries {
            let mut trial = g.clone();
            let within = steps.iter().all(|&(j, d)| {
                let to = g[j] + d;
                (-MAX_CUT_DB..=MAX_LIFT_DB).contains(&to)
            });
            if !within {
                continue;
            }
            for &(j, d) in &steps {
                for k in group_of(j) {
                    trial[k] += d;
                }
            }
            if let (Some(w), Some(now)) = (&words, &words_now)
                && !keeps_the_words(now, &w.hear(&on_song(&trial)))
            {
                continue;
            }
            let Some(h) = hear(&trial) else {
                continue;
            };
            let s = frequency::score(&h.0);
            if s > found.as_ref().map_or(score, |f| f.2) + MIN_GAIN {
                found = Some((trial, h, s));
            }
        }
        match found {
            Some((trial, h, s)) => {
                g = trial;
                now = h;
                score = s;
            }
            None => {
                for k in group_of(i) {
                    served[k] = true;
                }
            }
        }
    }
    out.moves_db = on_song(&g);
    out.after = frequency::mean_per_level(&now.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::spectrum::{FLOOR_DB, third_octave_band};
    use crate::dsp::testsig::{Rng, band_at as band, band_frames as frames};

    fn playing<'a>(role: Role, frames: &'a BandFrames) -> BalanceTrack<'a> {
        BalanceTrack {
            role,
            frames,
            playing: true,
        }
    }

    /// A part in the three bands around 1 kHz, `level_db` give or take 3 dB from frame to
    /// frame, in every frame.
    fn part_at_1k(n: usize, level_db: f64) -> BandFrames {
        let k = band(1000.0);
        frames(n, move |t, b| {
            if b + 1 >= k && b <= k + 1 {
                level_db + [-3.0, -1.0, 1.0, 3.0][t % 4]
            } else {
                FLOOR_DB
            }
        })
    }

    #[test]
    fn a_buried_part_is_served_within_the_bounds_and_a_pair_moves_as_one() {
        // Two guitars (a double-tracked pair, one a little louder) bury keys at 1 kHz.
        let left = frames(300, |_, _| -23.0);
        let right = frames(300, |_, _| -25.0);
        let keys = part_at_1k(300, -27.0);
        let tracks = [
            playing(Role::Guitar, &left),
            playing(Role::Guitar, &right),
            playing(Role::Keys, &keys),
        ];
        let b = balance_by_audibility(&tracks);
        assert!(
            b.after[0] > b.before[0] + 0.2,
            "the keys are heard: {:?} → {:?} ({:?})",
            b.before,
            b.after,
            b.moves_db
        );
        assert_eq!(b.moves_db[0], b.moves_db[1], "the pair keeps its balance");
        for m in &b.moves_db {
            assert!((-MAX_CUT_DB..=MAX_LIFT_DB).contains(m), "{:?}", b.moves_db);
        }
        // Heard already: nothing moves.
        let loud_keys = part_at_1k(300, -5.0);
        let clear = balance_by_audibility(&[
            playing(Role::Guitar, &left),
            playing(Role::Keys, &loud_keys),
        ]);
        assert_eq!(clear.moves_db, vec![0.0, 0.0]);
    }

    #[test]
    fn the_lead_keeps_its_words_and_its_place() {
        // A lead singing in the speech bands half of the time, a quiet broadband guitar,
        // keys buried at 1 kHz under strings that wander around 1 kHz, and a pad under
        // 250 Hz.
        let n = 400;
        let sings = |t: usize| (t / 20).is_multiple_of(2);
        let speech = |b: usize| (band(500.0)..=band(4000.0)).contains(&b);
        let lead = frames(n, move |t, b| {
            if sings(t) && speech(b) {
                -24.0 + [-2.0, 0.0, 2.0][t % 3]
            } else {
                FLOOR_DB
            }
        });
        let guitar = frames(n, |_, _| -36.0);
        let keys = part_at_1k(n, -30.0);
        let mut rng = Rng(7);
        let strings_db: Vec<f64> = (0..n).map(|_| -24.0 + 3.0 * rng.uniform()).collect();
        let strings = frames(n, move |t, b| {
            if b.abs_diff(band(1000.0)) <= 2 {
                strings_db[t]
            } else {
                FLOOR_DB
            }
        });
        let pad = frames(n, |t, b| {
            if third_octave_band(b).centre_hz < 250.0 {
                -26.0 + [-1.0, 1.0][t % 2]
            } else {
                FLOOR_DB
            }
        });
        let all = [&lead, &guitar, &keys, &strings, &pad];
        let roles = [
            Role::LeadVocal,
            Role::Guitar,
            Role::Keys,
            Role::Strings,
            Role::Pad,
        ];
        let tracks: Vec<BalanceTrack<'_>> =
            roles.iter().zip(all).map(|(&r, f)| playing(r, f)).collect();
        let b = balance_by_audibility(&tracks);
        assert_eq!(b.moves_db[0], 0.0, "the lead never moves");
        assert!(b.moves_db.iter().any(|&m| m != 0.0), "{:?}", b.moves_db);
        let words = played_words(&tracks).expect("a lead that sings");
        let (before, after) = (words.hear(&[0.0; 5]), words.hear(&b.moves_db));
        assert!(
            after.sii[0] >= before.sii[0] && after.sii[1] >= before.sii[1],
            "the words: {before:?} → {after:?}"
        );
        assert!(
            (after.lead_vs_mix_db - before.lead_vs_mix_db).abs() <= MAX_LEAD_SHIFT_DB,
            "the lead's place: {before:?} → {after:?}"
        );
    }

    #[test]
    fn faders_cancel_input_gain_errors() {
        let roles = [Role::LeadVocal, Role::Kick, Role::Guitar, Role::Guitar];
        let a = set_faders(
            &roles,
            &[Some(-30.0), Some(-10.0), Some(-25.0), Some(-18.0)],
        );
        let b = set_faders(&roles, &[Some(-18.0), Some(-22.0), Some(-5.0), Some(-40.0)]);
        // Resulting loudness (input + fader) is the same whatever the input level.
        let la: Vec<f64> = a
            .iter()
            .zip([-30.0, -10.0, -25.0, -18.0])
            .map(|(f, l)| f.db + l)
            .collect();
        let lb: Vec<f64> = b
            .iter()
            .zip([-18.0, -22.0, -5.0, -40.0])
            .map(|(f, l)| f.db + l)
            .collect();
        for (x, y) in la.iter().zip(&lb) {
            assert!((x - y).abs() < 1e-9);
        }
        assert!((la[0] - ANCHOR_LUFS).abs() < 1e-9, "lead at the anchor");
        assert!(la[0] > la[1] && la[1] > la[2], "role priority");
        // Two guitars together as loud as one guitar would be.
        let pair = 10.0 * (2.0 * 10f64.powf(la[2] / 10.0)).log10();
        assert!((pair - (ANCHOR_LUFS + role_offset_db(Role::Guitar))).abs() < 1e-9);
    }

    #[test]
    fn silent_is_muted_and_boost_is_bounded() {
        let f = set_faders(&[Role::Pad, Role::Keys], &[None, Some(-90.0)]);
        assert!(f[0].mute && f[0].note.is_some());
        assert_eq!(f[1].db, MAX_BOOST_DB);
    }
}
