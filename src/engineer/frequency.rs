//! Frequency: static unmasking EQ. Where a track is masked in many of the frames where it
//! plays, the tracks that mask it are cut, broadly and by a few dB, in the band where the
//! masked track is nearest to being heard (after Hafezi & Reiss 2015, "Autonomous
//! multitrack equalization based on masking reduction").
//!
//! Every move is tried on the masking model ([`crate::analysis::masking`]) at the loud and
//! the quiet playback level and kept only when it raises the song's audibility — the mean
//! share of unmasked frames over tracks and levels plus twice the worst track's — so a cut
//! that unmasks one track by burying another is refused. The lead vocal is never cut (its
//! words come first: [`super::words`]). Each cut track's fader makes up the loudness the
//! cut took, so the balance stays the level stage's (and as consistent between clean and
//! damaged stems): the EQ only moves a masker's energy out of the way. Decisions are read
//! from the repaired, loudness-normalised frames, so the same stems with other input gains
//! give the same cuts.

use super::roles::Role;
use crate::analysis::masking::{AudibilityCriterion, MaskingModel, TrackAudibility, k_weighting};
use crate::analysis::spectrum::{
    BAND_FRAME_BLOCK, BandFrames, THIRD_OCTAVE_BANDS, third_octave_band,
};
use crate::dsp::automation::bell_power_gain;
use crate::session::Bell;

/// Where the cuts may sit, Hz: one bell per octave.
pub const CENTRES_HZ: [f64; 8] = [63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0];
/// Bandwidth of a cut: Q 1 is about 1.4 octaves, broad enough to sound like a balance
/// move rather than a notch.
pub const Q: f64 = 1.0;
/// Depth of one step, dB.
pub const STEP_DB: f64 = 2.0;
/// Deepest cut of one bell, dB.
pub const MAX_CUT_DB: f64 = 6.0;
/// Most bells on one track: more would reshape its tone rather than make room.
pub const MAX_BELLS: usize = 2;
/// A track is served once it is unmasked in this share of its playing frames at both levels.
pub const TARGET: f64 = 0.9;
/// Playback levels the cuts are judged at, dB SPL (as [`super::playback`]).
const LEVELS_SPL: [f64; 2] = [super::playback::LOUD_SPL, super::playback::QUIET_SPL];
/// Weight of the worst track in the objective, beside the mean.
const WORST_WEIGHT: f64 = 2.0;
/// A move must raise the objective by this much to be kept.
const MIN_GAIN: f64 = 1e-3;
/// Maskers tried per masked track and centre: the loudest there.
const MASKERS_TRIED: usize = 4;
/// Moves at most per song (each costs a few model evaluations).
const MAX_MOVES: usize = 24;

/// A frame counts as unmasked when some of the track gets through: a tenth of its
/// sensation level in bands above the masked threshold. Nearer the listener's "I can hear
/// it" than the half the balance checks ask for.
const CRITERION: AudibilityCriterion = AudibilityCriterion {
    min_smr_db: 0.0,
    min_audible_share: 0.1,
    per_frame: false,
};

/// One track as the unmasking sees it.
pub struct UnmaskTrack<'a> {
    /// Its role (the lead vocal is never cut).
    pub role: Role,
    /// Its short-time third-octave frames, after its repairs.
    pub frames: &'a BandFrames,
    /// Its gain on the bus (fader, make-up and pan law), dB; `None` when muted.
    pub gain_db: Option<f64>,
    /// It captured the same source as another track (kick in/out, DI and amp: a pair from
    /// [`crate::analysis::relation`]): how the two sum is part of its sound, and a bell on
    /// one of them alone turns its phase against the other, so it is never cut.
    pub paired: bool,
}

/// The cuts decided: per track, its static bells (empty where it is left alone), and the
/// song's audibility before and after, per level.
#[derive(Debug, Clone, PartialEq)]
pub struct Unmasking {
    /// Per track, the bells of its static EQ.
    pub eq: Vec<Vec<Bell>>,
    /// Per track, the fader make-up that keeps its loudness as the level stage set it, dB.
    pub makeup_db: Vec<f64>,
    /// Mean share of unmasked frames over the playing tracks, loud and quiet, before.
    pub before: [f64; 2],
    /// The same after the cuts.
    pub after: [f64; 2],
}

/// Per-band power gain (dB) of a set of cuts `(centre index, dB)`.
fn eq_db(cuts: &[(usize, f64)]) -> Vec<f64> {
    (0..THIRD_OCTAVE_BANDS)
        .map(|b| {
            let f = third_octave_band(b).centre_hz;
            cuts.iter()
                .map(|&(c, g)| 10.0 * bell_power_gain(f, CENTRES_HZ[c], Q, g).log10())
                .sum()
        })
        .collect()
}

/// One [`STEP_DB`] more cut at centre `c` in a track's cuts; `false` (nothing changed) when
/// that bell is at [`MAX_CUT_DB`] or the track has its [`MAX_BELLS`] elsewhere.
fn deepen(cuts: &mut Vec<(usize, f64)>, c: usize) -> bool {
    if let Some((_, g)) = cuts.iter_mut().find(|(k, _)| *k == c) {
        if *g - STEP_DB < -MAX_CUT_DB - 1e-9 {
            return false;
        }
        *g -= STEP_DB;
    } else {
        if cuts.len() >= MAX_BELLS {
            return false;
        }
        cuts.push((c, -STEP_DB));
    }
    true
}

/// The centre nearest a frequency, by octaves.
fn nearest_centre(freq_hz: f64) -> usize {
    (0..CENTRES_HZ.len())
        .min_by(|&a, &b| {
            let d = |c: usize| (freq_hz / CENTRES_HZ[c]).log2().abs();
            d(a).total_cmp(&d(b))
        })
        .unwrap_or(0)
}

/// Share of unmasked frames per track, loud and quiet (`None`: never plays).
type Shares = Vec<[Option<f64>; 2]>;

/// A balance as the model hears it.
struct Heard {
    shares: Shares,
    /// Each track's details at the loud level.
    loud: Vec<TrackAudibility>,
    /// Mean over tracks and levels plus [`WORST_WEIGHT`] × the worst.
    score: f64,
}

/// The playing tracks of a song, ready for trying cuts.
struct Song {
    model: MaskingModel,
    /// Gain of each track on the bus, dB.
    gains: Vec<f64>,
    /// Long-term K-weighted power per band of each track after its gain, linear.
    weighted: Vec<[f64; THIRD_OCTAVE_BANDS]>,
}

impl Song {
    /// The fader make-up (dB) that keeps a track's loudness where the level stage put it
    /// once `cuts` are in: the balance is the level stage's, the EQ only moves energy
    /// away from where the track masks others.
    fn makeup_db(&self, track: usize, eq_db: &[f64]) -> f64 {
        let w = &self.weighted[track];
        let before: f64 = w.iter().sum();
        let after: f64 = w
            .iter()
            .zip(eq_db)
            .map(|(p, g)| p * 10f64.powf(g / 10.0))
            .sum();
        if before > 0.0 && after > 0.0 {
            10.0 * (before / after).log10()
        } else {
            0.0
        }
    }

    /// How the tracks are heard with `cuts` (and their make-up).
    fn hear(&self, cuts: &[Vec<(usize, f64)>]) -> Option<Heard> {
        let eq: Vec<Vec<f64>> = cuts.iter().map(|c| eq_db(c)).collect();
        let gains: Vec<f64> = (0..self.gains.len())
            .map(|j| self.gains[j] + self.makeup_db(j, &eq[j]))
            .collect();
        let mut shares = vec![[None; 2]; gains.len()];
        let mut loud = Vec::new();
        for (l, &spl) in LEVELS_SPL.iter().enumerate() {
            let a = self
                .model
                .audibility_with_eq(&gains, &eq, spl, &CRITERION)
                .ok()?;
            for (s, t) in shares.iter_mut().zip(&a) {
                s[l] = t.share_unmasked;
            }
            if l == 0 {
                loud = a;
            }
        }
        let all: Vec<f64> = shares.iter().flatten().flatten().copied().collect();
        let score = if all.is_empty() {
            0.0
        } else {
            let worst = all.iter().copied().fold(f64::INFINITY, f64::min);
            all.iter().sum::<f64>() / all.len() as f64 + WORST_WEIGHT * worst
        };
        Some(Heard {
            shares,
            loud,
            score,
        })
    }
}

fn mean_per_level(shares: &[[Option<f64>; 2]]) -> [f64; 2] {
    [0, 1].map(|l| {
        let v: Vec<f64> = shares.iter().filter_map(|s| s[l]).collect();
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    })
}

/// Long-term mean K-weighted power per band of each track after its gain, linear.
fn weighted_powers(frames: &[&BandFrames], gains: &[f64]) -> Vec<[f64; THIRD_OCTAVE_BANDS]> {
    let k: [f64; THIRD_OCTAVE_BANDS] =
        std::array::from_fn(|b| k_weighting(third_octave_band(b).centre_hz));
    frames
        .iter()
        .zip(gains)
        .map(|(t, &g)| {
            let mut sum = [0.0; THIRD_OCTAVE_BANDS];
            let mut n = 0usize;
            let mut blocks = t.blocks(BAND_FRAME_BLOCK);
            while let Ok(Some(block)) = blocks.next_block() {
                for f in block.chunks_exact(THIRD_OCTAVE_BANDS) {
                    for ((s, &d), k) in sum.iter_mut().zip(f).zip(&k) {
                        if d.is_finite() {
                            *s += k * 10f64.powf((d as f64 + g) / 10.0);
                        }
                    }
                    n += 1;
                }
            }
            sum.map(|s| s / n.max(1) as f64)
        })
        .collect()
}

/// The two centres where a track comes nearest to being heard: its characteristic bands,
/// by highest mean signal-to-mask ratio.
fn characteristic_centres(heard: &TrackAudibility) -> Vec<usize> {
    let mut bands: Vec<(usize, f64)> = heard
        .band_smr_db
        .iter()
        .enumerate()
        .filter_map(|(b, s)| s.map(|s| (b, s)))
        .collect();
    bands.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut centres: Vec<usize> = Vec::new();
    for (b, _) in bands {
        let c = nearest_centre(third_octave_band(b).centre_hz);
        if !centres.contains(&c) {
            centres.push(c);
        }
        if centres.len() == 2 {
            break;
        }
    }
    centres
}

/// Decides the static unmasking cuts of a song. Tracks whose frames are not on the
/// masking model's grid, or a model that cannot be read, leave every strip flat.
pub fn decide(tracks: &[UnmaskTrack<'_>]) -> Unmasking {
    let n = tracks.len();
    let flat = Unmasking {
        eq: vec![Vec::new(); n],
        makeup_db: vec![0.0; n],
        before: [0.0; 2],
        after: [0.0; 2],
    };
    let playing: Vec<usize> = (0..n).filter(|&i| tracks[i].gain_db.is_some()).collect();
    let frames: Vec<&BandFrames> = playing.iter().map(|&i| tracks[i].frames).collect();
    let Ok(model) = MaskingModel::new(&frames) else {
        return flat;
    };
    let gains: Vec<f64> = playing
        .iter()
        .map(|&i| tracks[i].gain_db.unwrap_or(0.0))
        .collect();
    let can_cut: Vec<bool> = playing
        .iter()
        .map(|&i| tracks[i].role != Role::LeadVocal && !tracks[i].paired)
        .collect();
    let song = Song {
        model,
        weighted: weighted_powers(&frames, &gains),
        gains,
    };
    let m = playing.len();
    let mut cuts: Vec<Vec<(usize, f64)>> = vec![Vec::new(); m];
    let Some(mut now) = song.hear(&cuts) else {
        return flat;
    };
    let before = mean_per_level(&now.shares);
    let mut served = vec![false; m];
    for _ in 0..MAX_MOVES {
        // The most masked track still wanting help.
        let Some(i) = (0..m)
            .filter(|&i| !served[i])
            .filter_map(|i| {
                let s = &now.shares[i];
                let worst = s.iter().flatten().copied().fold(1.0, f64::min);
                (worst < TARGET && s.iter().any(Option::is_some)).then_some((i, worst))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
            .map(|(i, _)| i)
        else {
            break;
        };
        let mut found: Option<(usize, usize, Heard)> = None;
        for c in characteristic_centres(&now.loud[i]) {
            // The loudest tracks around the centre are the likely maskers.
            let near: Vec<usize> = (0..THIRD_OCTAVE_BANDS)
                .filter(|&b| {
                    (third_octave_band(b).centre_hz / CENTRES_HZ[c])
                        .log2()
                        .abs()
                        <= 0.5
                })
                .collect();
            let mut maskers: Vec<(usize, f64)> = (0..m)
                .filter(|&j| j != i && can_cut[j])
                .map(|j| (j, near.iter().map(|&b| song.weighted[j][b]).sum::<f64>()))
                .collect();
            maskers.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            for &(j, _) in maskers.iter().take(MASKERS_TRIED) {
                let mut trial = cuts.clone();
                if !deepen(&mut trial[j], c) {
                    continue;
                }
                let Some(h) = song.hear(&trial) else {
                    continue;
                };
                let best = found.as_ref().map_or(now.score, |f| f.2.score);
                if h.score > best + MIN_GAIN {
                    found = Some((j, c, h));
                }
            }
        }
        match found {
            Some((j, c, h)) => {
                deepen(&mut cuts[j], c);
                now = h;
            }
            None => served[i] = true,
        }
    }
    let mut out = flat;
    for (k, &i) in playing.iter().enumerate() {
        let mut bells: Vec<Bell> = cuts[k]
            .iter()
            .map(|&(c, g)| Bell {
                freq_hz: CENTRES_HZ[c],
                q: Q,
                gain_db: g,
            })
            .collect();
        bells.sort_by(|a, b| a.freq_hz.total_cmp(&b.freq_hz));
        out.eq[i] = bells;
        out.makeup_db[i] = song.makeup_db(k, &eq_db(&cuts[k]));
    }
    out.before = before;
    out.after = mean_per_level(&now.shares);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::spectrum::FLOOR_DB;
    use crate::dsp::testsig::{band_at as band, band_frames as frames};

    /// A track for the unmasking: its role, frames, bus gain and whether it is paired.
    fn track(
        role: Role,
        frames: &BandFrames,
        gain_db: Option<f64>,
        paired: bool,
    ) -> UnmaskTrack<'_> {
        UnmaskTrack {
            role,
            frames,
            gain_db,
            paired,
        }
    }

    /// A broadband part at −20 dB per band and a second part, a band around 1 kHz that
    /// wobbles from frame to frame around `level_db`, playing in every frame.
    fn song(level_db: f64) -> (BandFrames, BandFrames) {
        let masker = frames(300, |_, _| -20.0);
        let k = band(1000.0);
        let target = frames(300, move |t, b| {
            let wobble = [-3.0, -1.0, 1.0, 3.0][t % 4];
            if b + 1 >= k && b <= k + 1 {
                level_db + wobble
            } else {
                FLOOR_DB
            }
        });
        (masker, target)
    }

    #[test]
    fn the_masker_is_cut_where_the_masked_part_lives_and_no_deeper_than_allowed() {
        let (masker, target) = song(-27.0);
        let tracks = [
            track(Role::Guitar, &masker, Some(0.0), false),
            track(Role::Keys, &target, Some(0.0), false),
        ];
        let u = decide(&tracks);
        assert!(u.eq[1].is_empty(), "the masked part is not cut: {:?}", u.eq);
        assert!(!u.eq[0].is_empty(), "the masker is cut");
        for b in &u.eq[0] {
            assert!(
                b.gain_db < 0.0 && b.gain_db >= -MAX_CUT_DB,
                "bounded cut: {b:?}"
            );
        }
        assert!(
            u.eq[0].iter().any(|b| b.freq_hz == 1000.0),
            "a cut at the part's own band: {:?}",
            u.eq[0]
        );
        assert!(u.eq[0].len() <= MAX_BELLS);
        assert!(
            u.after[0] > u.before[0] + 0.1,
            "audibility rises: {:?} → {:?}",
            u.before,
            u.after
        );
        // The same stems with another input gain on each, faders making up for it: the
        // same cuts.
        let (m2, t2) = (
            frames(300, |_, _| -32.0),
            frames(300, |t, b| {
                let k = band(1000.0);
                let wobble = [-3.0, -1.0, 1.0, 3.0][t % 4];
                if b + 1 >= k && b <= k + 1 {
                    -27.0 + 8.0 + wobble
                } else {
                    FLOOR_DB
                }
            }),
        );
        let again = decide(&[
            track(Role::Guitar, &m2, Some(12.0), false),
            track(Role::Keys, &t2, Some(-8.0), false),
        ]);
        assert_eq!(again.eq, u.eq);
    }

    #[test]
    fn a_track_paired_with_another_mic_is_never_cut() {
        // The masker that the first test cuts, now one of two mics on the same source.
        let (masker, target) = song(-27.0);
        let u = decide(&[
            track(Role::Guitar, &masker, Some(0.0), true),
            track(Role::Keys, &target, Some(0.0), false),
        ]);
        assert!(u.eq[0].is_empty(), "{:?}", u.eq);
        assert_eq!(u.makeup_db[0], 0.0);
    }

    #[test]
    fn the_lead_is_never_cut_and_what_is_heard_is_left_alone() {
        let (masker, target) = song(-27.0);
        let u = decide(&[
            track(Role::LeadVocal, &masker, Some(0.0), false),
            track(Role::Keys, &target, Some(0.0), false),
        ]);
        assert!(u.eq[0].is_empty(), "{:?}", u.eq);
        // Well above the masker: nothing to do.
        let (masker, target) = song(-5.0);
        let u = decide(&[
            track(Role::Guitar, &masker, Some(0.0), false),
            track(Role::Keys, &target, Some(0.0), false),
        ]);
        assert!(u.eq.iter().all(Vec::is_empty), "{:?}", u.eq);
        assert_eq!(u.before, u.after);
    }

    #[test]
    fn a_muted_track_is_left_out() {
        let (masker, target) = song(-27.0);
        let u = decide(&[
            track(Role::Guitar, &masker, None, false),
            track(Role::Keys, &target, Some(0.0), false),
        ]);
        assert!(u.eq.iter().all(Vec::is_empty), "{:?}", u.eq);
    }
}
