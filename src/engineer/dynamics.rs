//! Dynamics keyed across tracks: the sustained parts make room for every drum hit.
//!
//! A drum hit is short, and a sustained part playing through it covers it: on the benchmark
//! songs the kick was masked in its low bands by the bass, the clap in the low mids by pads
//! and synths, the snare's body by the bass, a kick's click by the piano. The mix engineer's
//! answer is a sidechain: the part dips in the drum's band for the length of each hit, so
//! the two take turns instead of sharing the band. Here it is a keyed dynamic EQ (the
//! session's [`DynamicBell`], as the duck EQ of [`super::words`]) on the sustained parts
//! that mask each drum, decided per drum (kicks, snares, toms, percussion: each role's
//! tracks together) from the tracks' short-time third-octave frames after their gains:
//!
//! 1. **Hits**: the frames where the drum plays: within [`HIT_RANGE_DB`] of its loudest
//!    5 %, the activity rule of the masking model, so a hit's decay counts as its attack.
//! 2. **Model**: in a hit frame each of the drum's tracks is heard when, in some band, it
//!    passes the masked threshold of the rest of the mix, its other mics included (band
//!    powers spread across bands with Schroeder's function on the Bark scale, lowered by
//!    [`MASK_OFFSET_DB`]), and the threshold in quiet ([`THRESHOLD_IN_QUIET_DB`]), with the
//!    mix calibrated to the loud and the quiet playback level: the benchmark's audibility
//!    model, on the engineer's frames.
//! 3. **Band**: each third-octave centre is tried; the parts that take the bell there are
//!    the [sustained](sustains) ones that put at least a tenth ([`OVERLAP_DB`]) of the
//!    masked threshold in that band over the hits (a part with nothing there is left
//!    alone); the centre kept is the one where the dip lets the drum be heard in the most
//!    hit frames the model had it masked in: its body or its crack, wherever it comes
//!    nearest to being heard (ties: the shallower dip, then the drum's stronger band).
//! 4. **Depth**: per frame so served, the smallest whole dB that serves it; the dip is the
//!    depth that serves [`SERVED`] of them: just enough, never more than [`MAX_DUCK_DB`].
//!    Nothing is done where the dip would serve under [`MIN_GAIN`] of the hit frames.
//! 5. **Shape**: full depth from the start of a hit's first frame (reached in
//!    [`ATTACK_S`]) to the middle of its last, back to rest over one frame hop; hits closer
//!    than that are one dip, so a part never bounces between two quick hits. A hit is short,
//!    so the part's own loudness barely moves.
//!
//! Only levels relative to each other enter the band and the depth (the playback level is
//! set from the mix), so the same stems at other input gains get the same dips. The lead
//! vocal and the other drums are never cut. A part that [`crate::analysis::relation`]
//! pairs with a track that does not take the same bell is left alone: the bell on one mic
//! of a pair alone would turn its phase against the other (a DI and its amp both take it).

use std::io;

use super::playback::{LOUD_SPL, QUIET_SPL};
use super::roles::Role;
use super::words::power_db;
use crate::analysis::masking::{THRESHOLD_IN_QUIET_DB, bark};
use crate::analysis::relation::Relation;
use crate::analysis::spectrum::{
    BAND_FRAME_BLOCK, BandFrames, FLOOR_DB, THIRD_OCTAVE_BANDS, third_octave_band,
};
use crate::dsp::automation::bell_power_gain;
use crate::session::{DynamicBell, GainPoint};

/// Deepest dip, dB: the sidechain depth of a bass under a dance kick, in one bell (a
/// part's other bands do not move, so it does not pump as a whole). 6 dB left the kicks
/// masked in a fifth to a third of their hits on the benchmark's synth-pop, pop and ballad
/// songs; on those four, 10 raised every kick 3–6 points and no other stem or the words
/// lost more than 0.02.
pub const MAX_DUCK_DB: f64 = 10.0;
/// Quality factor of the dip: about 1.4 octaves, a drum's body or its crack.
pub const Q: f64 = 1.0;
/// A frame is part of a hit when the drum's level is within this of its loudest 5 %.
pub const HIT_RANGE_DB: f64 = 20.0;
/// Share of the frames a dip can serve that it should serve: the share of its playing
/// frames a track should be heard in ([`super::frequency::TARGET`]).
pub const SERVED: f64 = super::frequency::TARGET;
/// Time from rest to full depth, seconds: a fast sidechain attack.
pub const ATTACK_S: f64 = 0.01;
/// The masked threshold lies this far under the spread masker, dB (Johnston's noise-masker
/// index, rounded: the rest of a mix is dense and noise-like).
pub const MASK_OFFSET_DB: f64 = 6.0;
/// A part takes the bell when it puts at least this share of the masked threshold (in dB
/// under the total) in the bell's band over the hits.
pub const OVERLAP_DB: f64 = 10.0;
/// A dip must serve at least this share of the hit frames (both levels counted).
pub const MIN_GAIN: f64 = 0.02;
/// The drums that are made room for.
pub const DRUMS: [Role; 4] = [Role::Kick, Role::Snare, Role::Tom, Role::Percussion];
/// Lowest and highest centre of a dip, Hz.
const CENTRE_RANGE_HZ: (f64, f64) = (30.0, 8500.0);
/// Playback levels the hits are judged at, dB SPL (as [`super::playback`]).
const LEVELS_SPL: [f64; 2] = [LOUD_SPL, QUIET_SPL];
const BANDS: usize = THIRD_OCTAVE_BANDS;

/// Whether a role is a sustained part that may dip under the drums: bass, guitars, keys and
/// organ, synths, pads, strings, backing vocals (never the lead, the drums, brass or
/// effects).
pub fn sustains(role: Role) -> bool {
    matches!(
        role,
        Role::Bass
            | Role::Guitar
            | Role::Keys
            | Role::Synth
            | Role::Pad
            | Role::Strings
            | Role::BackingVocal
    )
}

/// One track as the sidechain sees it.
pub struct DuckTrack<'a> {
    /// Its role: drums key the dips, sustained parts take them.
    pub role: Role,
    /// Its short-time third-octave frames, after its repairs.
    pub frames: &'a BandFrames,
    /// Its gain on the bus, dB; `None` when muted.
    pub gain_db: Option<f64>,
}

/// One drum's dip: its bell (centre, Q and automation, the same on every part that takes
/// it) and which tracks take it.
#[derive(Debug, Clone, PartialEq)]
pub struct HitDuck {
    /// The drum it makes room for.
    pub drum: Role,
    /// The keyed bell.
    pub bell: DynamicBell,
    /// Depth of the dip, dB (positive).
    pub depth_db: f64,
    /// Hits the dip follows.
    pub hits: usize,
    /// Share of the hit frames the model hears the drum in, loud and quiet, before the dip.
    pub heard_before: [f64; 2],
    /// The same with the dip.
    pub heard_after: [f64; 2],
    /// Indices of the tracks that take the bell.
    pub tracks: Vec<usize>,
}

/// Decides the dips that make room for each drum's hits (in [`DRUMS`] order): one per drum
/// that has hits, sustained parts masking it, and a dip that lets it be heard more often.
pub fn duck_under_hits(
    tracks: &[DuckTrack<'_>],
    relations: &[Relation],
) -> io::Result<Vec<HitDuck>> {
    // Sustained parts whose partners can all take the same bell.
    let mut eligible: Vec<bool> = tracks.iter().map(|t| sustains(t.role)).collect();
    while let Some(r) = relations.iter().find(|r| eligible[r.a] != eligible[r.b]) {
        eligible[r.a] = false;
        eligible[r.b] = false;
    }
    let playing = |i: usize| tracks[i].gain_db.is_some();
    let parts: Vec<usize> = (0..tracks.len())
        .filter(|&i| playing(i) && eligible[i])
        .collect();
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    // The playback calibration: the mix's mean power over the song, as the benchmark sets it.
    let playing_tracks: Vec<usize> = (0..tracks.len()).filter(|&i| playing(i)).collect();
    let mix_power = frame_power(tracks, &playing_tracks)?;
    if mix_power.is_empty() {
        return Ok(Vec::new());
    }
    let mix_db = power_db(mix_power.iter().sum::<f64>() / mix_power.len() as f64);
    let model = Model::new(mix_db);

    let mut ducks = Vec::new();
    for drum in DRUMS {
        let group: Vec<usize> = (0..tracks.len())
            .filter(|&i| playing(i) && tracks[i].role == drum)
            .collect();
        if group.is_empty() {
            continue;
        }
        // 1. Hits: the drum's level near its loudest.
        let level: Vec<f64> = frame_power(tracks, &group)?
            .into_iter()
            .map(power_db)
            .collect();
        let sounding: Vec<f64> = level.iter().copied().filter(|&l| l > FLOOR_DB).collect();
        if sounding.is_empty() {
            continue;
        }
        let top = quantile(sounding, 0.95);
        let hit: Vec<bool> = level
            .iter()
            .map(|&l| l > FLOOR_DB && l >= top - HIT_RANGE_DB)
            .collect();
        let mut index = vec![usize::MAX; hit.len()];
        let mut hits = 0;
        for (k, _) in hit.iter().enumerate().filter(|(_, h)| **h) {
            index[k] = hits;
            hits += 1;
        }
        // 2. The hit frames' band powers: the drum, each part, the rest that stays.
        let gather = |of: &[usize]| -> io::Result<Vec<[f64; BANDS]>> {
            let mut out = vec![[0.0; BANDS]; hits];
            for &i in of {
                each_frame(&tracks[i], |f, p| {
                    if let Some(&h) = index.get(f).filter(|&&h| h != usize::MAX) {
                        for (o, &x) in out[h].iter_mut().zip(p) {
                            *o += x;
                        }
                    }
                })?;
            }
            Ok(out)
        };
        let rest_tracks: Vec<usize> = (0..tracks.len())
            .filter(|&i| playing(i) && tracks[i].role != drum && !parts.contains(&i))
            .collect();
        let frames = HitFrames {
            drums: group
                .iter()
                .map(|&i| gather(&[i]))
                .collect::<io::Result<_>>()?,
            rest: gather(&rest_tracks)?,
            parts: parts
                .iter()
                .map(|&i| gather(&[i]))
                .collect::<io::Result<_>>()?,
        };
        // 3–4. Band and depth.
        let Some(choice) = model.choose(&frames, &parts, relations) else {
            continue;
        };
        // 5. Shape.
        let hop = tracks[group[0]].frames.hop_s();
        let half_window = 0.5 * tracks[group[0]].frames.window_s();
        let (points, runs) = dip_points(&hit, hop, half_window, choice.depth_db);
        ducks.push(HitDuck {
            drum,
            bell: DynamicBell {
                freq_hz: third_octave_band(choice.band).centre_hz,
                q: Q,
                points,
            },
            depth_db: choice.depth_db,
            hits: runs,
            heard_before: choice.heard_before,
            heard_after: choice.heard_after,
            tracks: choice.tracks,
        });
    }
    Ok(ducks)
}

/// Band powers in the hit frames of one drum, after the gains.
struct HitFrames {
    /// Each track of the drum's (each is heard against the rest and the others).
    drums: Vec<Vec<[f64; BANDS]>>,
    /// The tracks that take no dip (lead, other drums, parts that may not dip).
    rest: Vec<[f64; BANDS]>,
    /// Each part that may dip, in the order of the `parts` indices.
    parts: Vec<Vec<[f64; BANDS]>>,
}

/// A dip decided by the model.
struct Choice {
    band: usize,
    depth_db: f64,
    tracks: Vec<usize>,
    heard_before: [f64; 2],
    heard_after: [f64; 2],
}

/// The benchmark's audibility model on third-octave frames: spreading and the threshold in
/// quiet, both as digital powers for the song's calibration.
struct Model {
    /// `spread[b][j]`: power of the masked threshold in band `b` per unit of power in `j`.
    spread: [[f64; BANDS]; BANDS],
    /// Threshold in quiet per level and band, digital power.
    quiet: [[f64; BANDS]; 2],
}

impl Model {
    fn new(mix_db: f64) -> Model {
        let z: [f64; BANDS] = std::array::from_fn(|b| bark(third_octave_band(b).centre_hz));
        let spread = std::array::from_fn(|b| {
            std::array::from_fn(|j| {
                // Schroeder, Atal & Hall (1979); dz = maskee − masker, Bark.
                let dz = z[b] - z[j] + 0.474;
                let sf = 15.81 + 7.5 * dz - 17.5 * (1.0 + dz * dz).sqrt();
                10f64.powf((sf - MASK_OFFSET_DB) / 10.0)
            })
        });
        let quiet = LEVELS_SPL.map(|spl| {
            std::array::from_fn(|b| 10f64.powf((THRESHOLD_IN_QUIET_DB[b] - (spl - mix_db)) / 10.0))
        });
        Model { spread, quiet }
    }

    /// Whether `drum` passes the threshold of `masker` in some band, per level.
    fn heard(&self, drum: &[f64; BANDS], masker: &[f64; BANDS]) -> [bool; 2] {
        let mut out = [false; 2];
        for b in 0..BANDS {
            let thr: f64 = self.spread[b].iter().zip(masker).map(|(s, m)| s * m).sum();
            for (o, q) in out.iter_mut().zip(&self.quiet) {
                *o |= drum[b] > thr.max(q[b]);
            }
        }
        out
    }

    /// The centre, depth and parts of the dip that serves the most masked hit frames, or
    /// `None` when none serves [`MIN_GAIN`] of them.
    fn choose(&self, f: &HitFrames, parts: &[usize], relations: &[Relation]) -> Option<Choice> {
        let hits = f.rest.len();
        let slots = hits * f.drums.len();
        let mut best: Option<((usize, f64, f64), Choice)> = None;
        for c in (0..BANDS).filter(|&c| {
            (CENTRE_RANGE_HZ.0..=CENTRE_RANGE_HZ.1).contains(&third_octave_band(c).centre_hz)
        }) {
            // The parts that put a tenth of the threshold in band `c`, with their partners.
            let at_c = |p: &[[f64; BANDS]]| -> f64 {
                p.iter()
                    .map(|x| {
                        self.spread[c]
                            .iter()
                            .zip(x)
                            .map(|(s, m)| s * m)
                            .sum::<f64>()
                    })
                    .sum()
            };
            let shares: Vec<f64> = f.parts.iter().map(|p| at_c(p)).collect();
            let total = at_c(&f.rest) + shares.iter().sum::<f64>();
            let mut takes: Vec<bool> = shares
                .iter()
                .map(|&s| s > 0.0 && s >= total * 10f64.powf(-OVERLAP_DB / 10.0))
                .collect();
            let pos = |i: usize| parts.iter().position(|&p| p == i);
            while let Some((a, b)) = relations
                .iter()
                .filter_map(|r| Some((pos(r.a)?, pos(r.b)?)))
                .find(|&(a, b)| takes[a] != takes[b])
            {
                takes[a] = true;
                takes[b] = true;
            }
            if !takes.contains(&true) {
                continue;
            }
            let centre = third_octave_band(c).centre_hz;
            let bell = |d: usize| -> [f64; BANDS] {
                std::array::from_fn(|b| {
                    bell_power_gain(third_octave_band(b).centre_hz, centre, Q, -(d as f64))
                })
            };
            let gain: Vec<[f64; BANDS]> = (0..=MAX_DUCK_DB as usize).map(bell).collect();
            // Per hit frame and level: the smallest depth that lets the drum be heard.
            // (level, depth) of each frame a dip could serve.
            let mut before = [0; 2];
            let mut needed: Vec<(usize, usize)> = Vec::new();
            for h in 0..hits {
                let mut fixed = f.rest[h];
                let mut cut = [0.0; BANDS];
                for (p, &t) in f.parts.iter().zip(&takes) {
                    let into = if t { &mut cut } else { &mut fixed };
                    for (o, x) in into.iter_mut().zip(&p[h]) {
                        *o += x;
                    }
                }
                for k in 0..f.drums.len() {
                    let mut others = fixed;
                    for (_, o) in f.drums.iter().enumerate().filter(|&(j, _)| j != k) {
                        for (x, y) in others.iter_mut().zip(&o[h]) {
                            *x += y;
                        }
                    }
                    let mut open = [true; 2];
                    for (d, g) in gain.iter().enumerate() {
                        let masker: [f64; BANDS] =
                            std::array::from_fn(|b| others[b] + cut[b] * g[b]);
                        let heard = self.heard(&f.drums[k][h], &masker);
                        for l in 0..2 {
                            if open[l] && heard[l] {
                                open[l] = false;
                                if d == 0 {
                                    before[l] += 1;
                                } else {
                                    needed.push((l, d));
                                }
                            }
                        }
                        if open == [false; 2] {
                            break;
                        }
                    }
                }
            }
            let served = needed.len();
            if (served as f64) < MIN_GAIN * (2 * slots) as f64 {
                continue;
            }
            let depth = quantile(needed.iter().map(|&(_, d)| d as f64).collect(), SERVED);
            // Among dips that serve as many frames, the shallowest, then the one in the
            // drum's strongest band.
            let strength: f64 = f.drums.iter().flatten().map(|d| d[c]).sum();
            let key = (served, -depth, strength);
            if best.as_ref().is_some_and(|(k, _)| *k >= key) {
                continue;
            }
            let mut after = before;
            for &(l, d) in &needed {
                after[l] += usize::from(d as f64 <= depth);
            }
            best = Some((
                key,
                Choice {
                    band: c,
                    depth_db: depth,
                    tracks: (0..parts.len())
                        .filter(|&k| takes[k])
                        .map(|k| parts[k])
                        .collect(),
                    heard_before: before.map(|n| n as f64 / slots as f64),
                    heard_after: after.map(|n| n as f64 / slots as f64),
                },
            ));
        }
        best.map(|(_, c)| c)
    }
}

/// The automation of a dip of `depth_db` over the runs of `hit` frames (frames `hop`
/// seconds apart, windows of twice `half_window`), and the number of dips.
fn dip_points(hit: &[bool], hop: f64, half_window: f64, depth_db: f64) -> (Vec<GainPoint>, usize) {
    let mut runs: Vec<(f64, f64)> = Vec::new();
    let mut t = 0;
    while t < hit.len() {
        if !hit[t] {
            t += 1;
            continue;
        }
        let a = t;
        while t < hit.len() && hit[t] {
            t += 1;
        }
        let start = ((a as f64 + 0.5) * hop - half_window).max(ATTACK_S);
        let end = (t as f64 - 0.5) * hop;
        match runs.last_mut() {
            Some(last) if start - ATTACK_S <= last.1 + hop => last.1 = end,
            _ => runs.push((start, end)),
        }
    }
    let mut points = Vec::with_capacity(4 * runs.len());
    for &(start, end) in &runs {
        points.push(GainPoint {
            time_s: start - ATTACK_S,
            gain_db: 0.0,
        });
        points.push(GainPoint {
            time_s: start,
            gain_db: -depth_db,
        });
        points.push(GainPoint {
            time_s: end,
            gain_db: -depth_db,
        });
        points.push(GainPoint {
            time_s: end + hop,
            gain_db: 0.0,
        });
    }
    (points, runs.len())
}

/// Calls `visit` with each frame's index and band powers of a playing track after its
/// gain (zero in bands at the floor).
fn each_frame(t: &DuckTrack<'_>, mut visit: impl FnMut(usize, &[f64; BANDS])) -> io::Result<()> {
    let gain = t.gain_db.unwrap_or(0.0);
    let bands = t.frames.bands();
    let mut blocks = t.frames.blocks(BAND_FRAME_BLOCK);
    let mut f = 0;
    while let Some(block) = blocks.next_block()? {
        for frame in block.chunks_exact(bands) {
            let p: [f64; BANDS] = std::array::from_fn(|b| {
                let l = frame.get(b).map_or(FLOOR_DB, |&l| f64::from(l));
                if l > FLOOR_DB {
                    10f64.powf((l + gain) / 10.0)
                } else {
                    0.0
                }
            });
            visit(f, &p);
            f += 1;
        }
    }
    Ok(())
}

/// Power per frame of the tracks `of` together (after their gains), linear, as long as
/// the longest of them.
fn frame_power(tracks: &[DuckTrack<'_>], of: &[usize]) -> io::Result<Vec<f64>> {
    let mut power: Vec<f64> = Vec::new();
    for &i in of {
        each_frame(&tracks[i], |f, p| {
            if power.len() <= f {
                power.resize(f + 1, 0.0);
            }
            power[f] += p.iter().sum::<f64>();
        })?;
    }
    Ok(power)
}

/// The `q` quantile (0…1) of `v` (not empty), the nearest rank.
fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    let i = ((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1);
    *v.select_nth_unstable_by(i, f64::total_cmp).1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testsig::{band_at, band_frames};

    /// A drum hitting every 10th frame (two frames long, the second 3 dB down) at `db` in
    /// the bands `at` (Hz).
    fn drum(db: f64, at: &'static [f64]) -> BandFrames {
        let bands: Vec<usize> = at.iter().map(|&f| band_at(f)).collect();
        band_frames(400, move |t, b| {
            if t % 10 < 2 && bands.contains(&b) {
                db - 3.0 * (t % 10) as f64
            } else {
                FLOOR_DB
            }
        })
    }

    /// A part sustained at `db` in the bands from `lo` to `hi` (Hz).
    fn sustained(db: f64, lo: f64, hi: f64) -> BandFrames {
        let (lo, hi) = (band_at(lo), band_at(hi));
        band_frames(
            400,
            move |_, b| {
                if (lo..=hi).contains(&b) { db } else { FLOOR_DB }
            },
        )
    }

    fn track(role: Role, frames: &BandFrames) -> DuckTrack<'_> {
        DuckTrack {
            role,
            frames,
            gain_db: Some(0.0),
        }
    }

    /// The gain of a bell's automation at `time` (held before the first and after the last).
    fn gain_at(bell: &DynamicBell, time: f64) -> f64 {
        let p = &bell.points;
        let k = p.iter().position(|q| q.time_s > time).unwrap_or(p.len());
        if k == 0 || k == p.len() {
            return p[k.saturating_sub(1).min(p.len() - 1)].gain_db;
        }
        let (a, b) = (p[k - 1], p[k]);
        a.gain_db + (b.gain_db - a.gain_db) * (time - a.time_s) / (b.time_s - a.time_s)
    }

    #[test]
    fn a_part_over_the_drum_dips_in_the_drums_band_only_while_it_hits() {
        let kick = drum(-24.0, &[50.0, 63.0]);
        let bass = sustained(-24.0, 40.0, 80.0);
        let ducks =
            duck_under_hits(&[track(Role::Kick, &kick), track(Role::Bass, &bass)], &[]).unwrap();
        assert_eq!(ducks.len(), 1);
        let d = &ducks[0];
        assert_eq!((d.drum, d.tracks.as_slice()), (Role::Kick, &[1][..]));
        assert!(
            (40.0..=80.0).contains(&d.bell.freq_hz),
            "centre {}",
            d.bell.freq_hz
        );
        assert!(
            d.depth_db >= 1.0 && d.depth_db <= MAX_DUCK_DB,
            "{}",
            d.depth_db
        );
        assert!(d.heard_after[0] > d.heard_before[0], "{d:?}");
        assert_eq!(d.hits, 40);
        for hit in 1..39 {
            let t0 = hit as f64 * 0.5;
            // Full depth across the hit's two frames, rest half-way to the next hit.
            assert_eq!(gain_at(&d.bell, t0 + 0.01), -d.depth_db, "hit {hit}");
            assert_eq!(gain_at(&d.bell, t0 + 0.07), -d.depth_db, "hit {hit}");
            assert_eq!(gain_at(&d.bell, t0 + 0.3), 0.0, "between hits {hit}");
        }
        assert!(d.bell.points.windows(2).all(|w| w[0].time_s < w[1].time_s));
        assert!(d.bell.points.iter().all(|p| p.gain_db >= -MAX_DUCK_DB));
    }

    #[test]
    fn the_dip_is_just_enough_bounded_and_follows_relative_levels_only() {
        let kick = drum(-24.0, &[50.0, 63.0]);
        let depth = |bass_db: f64| {
            let bass = sustained(bass_db, 40.0, 80.0);
            let t = [track(Role::Kick, &kick), track(Role::Bass, &bass)];
            duck_under_hits(&t, &[])
                .unwrap()
                .first()
                .map(|d| d.depth_db)
        };
        // A bass just over the kick's masked threshold dips less than one well over it,
        // and a bass too far over for 6 dB to help is left alone.
        let (near, far) = (depth(-26.0).unwrap(), depth(-24.0).unwrap());
        assert!(near < far && far <= MAX_DUCK_DB, "{near} {far}");
        assert_eq!(depth(-18.0), None);
        // The same stems 12 dB hotter on the way in, the faders 12 dB lower: the same dip.
        let bass = sustained(-24.0, 40.0, 80.0);
        let d = duck_under_hits(&[track(Role::Kick, &kick), track(Role::Bass, &bass)], &[]);
        let (k2, b2) = (drum(-12.0, &[50.0, 63.0]), sustained(-12.0, 40.0, 80.0));
        let mut t = [track(Role::Kick, &k2), track(Role::Bass, &b2)];
        t[0].gain_db = Some(-12.0);
        t[1].gain_db = Some(-12.0);
        assert_eq!(duck_under_hits(&t, &[]).unwrap(), d.unwrap());
    }

    #[test]
    fn the_snare_takes_room_in_its_body_when_its_crack_is_out_of_reach() {
        let snare = drum(-24.0, &[200.0, 250.0, 3150.0]);
        let keys = sustained(-22.0, 160.0, 315.0);
        let guitar = sustained(-10.0, 2500.0, 4000.0);
        let t = [
            track(Role::Snare, &snare),
            track(Role::Keys, &keys),
            track(Role::Guitar, &guitar),
        ];
        let d = duck_under_hits(&t, &[]).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].drum, d[0].tracks.as_slice()), (Role::Snare, &[1][..]));
        assert!((160.0..=315.0).contains(&d[0].bell.freq_hz), "{:?}", d[0]);
        assert_eq!(d[0].heard_after, [1.0, 1.0]);
    }

    #[test]
    fn the_lead_other_drums_and_parts_with_nothing_there_are_left_alone() {
        let kick = drum(-24.0, &[50.0, 63.0]);
        let low = sustained(-24.0, 40.0, 80.0);
        let faint = sustained(-50.0, 40.0, 80.0);
        let high = sustained(-24.0, 2000.0, 4000.0);
        let t = [
            track(Role::Kick, &kick),
            track(Role::Bass, &low),
            track(Role::LeadVocal, &faint),
            track(Role::Overhead, &faint),
            track(Role::Guitar, &high),
        ];
        let d = duck_under_hits(&t, &[]).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].tracks, vec![1]);
        // Without a part that may dip, nothing.
        let mut t = t;
        t[1].role = Role::LeadVocal;
        assert_eq!(duck_under_hits(&t, &[]).unwrap(), vec![]);
        // A muted drum keys nothing.
        t[1].role = Role::Bass;
        t[0].gain_db = None;
        assert_eq!(duck_under_hits(&t, &[]).unwrap(), vec![]);
    }

    #[test]
    fn a_part_paired_with_a_track_that_does_not_dip_is_left_alone() {
        let kick = drum(-24.0, &[50.0, 63.0]);
        let bass = sustained(-24.0, 40.0, 80.0);
        let amp = sustained(-50.0, 40.0, 80.0);
        let mut t = vec![
            track(Role::Kick, &kick),
            track(Role::Bass, &bass),
            track(Role::Overhead, &amp),
        ];
        let pair = |b| Relation {
            a: 1,
            b,
            correlation: 0.9,
            ..Relation::default()
        };
        assert_eq!(duck_under_hits(&t, &[pair(2)]).unwrap(), vec![]);
        // Paired with another bass, both take the bell, even the one that masks little.
        t[2].role = Role::Bass;
        let d = duck_under_hits(&t, &[pair(2)]).unwrap();
        assert_eq!(d[0].tracks, vec![1, 2]);
        assert_eq!(duck_under_hits(&t, &[]).unwrap()[0].tracks, vec![1]);
    }
}
