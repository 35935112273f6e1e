//! Dynamics keyed across tracks: the bass ducks under the kick.
//!
//! Kick and bass share the bottom octave, and a sustained bass note covers the kick's
//! fundamental: on the benchmark songs the kick was masked in half its hits, nearly always
//! in its lowest bands and by the bass. The mix engineer's answer is a sidechain: the bass
//! dips in the kick's band for the length of each hit, so the two take turns instead of
//! sharing the band. Here it is a keyed dynamic EQ on every bass track (the session's
//! [`DynamicBell`], as the duck EQ of [`super::words`]), decided from the tracks' short-time
//! third-octave frames after their gains:
//!
//! 1. **Hits**: the frames where the kicks together play in the low bands (31.5–160 Hz):
//!    within [`HIT_RANGE_DB`] of their loudest 5 %, the activity rule of the masking model,
//!    so a hit's decay counts as much as its attack.
//! 2. **Band**: the kicks' strongest low band over those frames (their fundamental).
//! 3. **Depth**: in that band, how far the basses stand over the kicks in the frames where
//!    they do so most ([`SERVED`] of the hit frames are at or under it), rounded to whole dB
//!    and at most [`MAX_DUCK_DB`]: the bass comes down to the kick's level there, no
//!    further. Where the kick already stands over the bass, nothing is done.
//! 4. **Shape**: full depth from the start of a hit's first frame (reached in
//!    [`ATTACK_S`]) to the middle of its last, back to rest over one frame hop; hits closer
//!    than that are one dip, so the bass never bounces between two quick kicks.
//!
//! Only levels relative to each other enter, so the same stems at other input gains get the
//! same duck. A bass that [`crate::analysis::relation`] pairs with a track other than a bass
//! is left alone: the bell on one mic of a pair alone would turn its phase against the
//! other (basses paired with each other, DI and amp, all get the same bell).

use std::io;

use super::roles::Role;
use super::words::power_db;
use crate::analysis::relation::Relation;
use crate::analysis::spectrum::{
    BAND_FRAME_BLOCK, BandFrames, FLOOR_DB, THIRD_OCTAVE_BANDS, third_octave_band,
};
use crate::session::{DynamicBell, GainPoint};

/// Deepest dip, dB: enough to hand the kick its band, too little to hear the bass pump.
pub const MAX_DUCK_DB: f64 = 6.0;
/// Quality factor of the dip: about 1.4 octaves, the kick's fundamental and its pitch drop.
pub const Q: f64 = 1.0;
/// A frame is part of a hit when the kicks' low level is within this of their loudest 5 %.
pub const HIT_RANGE_DB: f64 = 20.0;
/// Share of the hit frames in which the dip should leave the kick level with the bass in
/// its band: the share of its playing frames a track should be heard in
/// ([`super::frequency::TARGET`]).
pub const SERVED: f64 = super::frequency::TARGET;
/// Time from rest to full depth, seconds: a fast sidechain attack.
pub const ATTACK_S: f64 = 0.01;
/// Lowest and highest centre of the bands the kick's fundamental is looked for in, Hz.
const LOW_BAND_HZ: (f64, f64) = (30.0, 170.0);
/// The smallest dip worth making, dB.
const MIN_DUCK_DB: f64 = 1.0;

/// One track as the sidechain sees it.
pub struct DuckTrack<'a> {
    /// Its role: kicks key the dip, basses take it.
    pub role: Role,
    /// Its short-time third-octave frames, after its repairs.
    pub frames: &'a BandFrames,
    /// Its gain on the bus, dB; `None` when muted.
    pub gain_db: Option<f64>,
}

/// The dip decided: its bell (centre, Q and automation, the same on every ducked bass) and
/// which tracks take it.
#[derive(Debug, Clone, PartialEq)]
pub struct BassDuck {
    /// The keyed bell.
    pub bell: DynamicBell,
    /// Depth of the dip, dB (positive).
    pub depth_db: f64,
    /// Kick hits the dip follows.
    pub hits: usize,
    /// Indices of the tracks that take the bell.
    pub tracks: Vec<usize>,
}

/// Decides the bass's dip under the kick; `None` where there is no kick, no bass, or the
/// kick already stands over the bass in its band.
pub fn duck_bass(tracks: &[DuckTrack<'_>], relations: &[Relation]) -> io::Result<Option<BassDuck>> {
    let playing = |i: usize, role: Role| tracks[i].role == role && tracks[i].gain_db.is_some();
    let kicks: Vec<usize> = (0..tracks.len())
        .filter(|&i| playing(i, Role::Kick))
        .collect();
    let basses: Vec<usize> = (0..tracks.len())
        .filter(|&i| playing(i, Role::Bass))
        .filter(|&i| {
            relations
                .iter()
                .filter_map(|r| (r.a == i).then_some(r.b).or((r.b == i).then_some(r.a)))
                .all(|j| tracks[j].role == Role::Bass)
        })
        .collect();
    if kicks.is_empty() || basses.is_empty() {
        return Ok(None);
    }
    let low: Vec<usize> = (0..THIRD_OCTAVE_BANDS)
        .filter(|&b| (LOW_BAND_HZ.0..=LOW_BAND_HZ.1).contains(&third_octave_band(b).centre_hz))
        .collect();
    let n = low.len();
    let mut kick = group_low_power(tracks, &kicks, &low)?;
    let mut bass = group_low_power(tracks, &basses, &low)?;
    let frames = kick.len().max(bass.len()) / n;
    kick.resize(frames * n, 0.0);
    bass.resize(frames * n, 0.0);

    // 1. Hits: the kicks' low level near its loudest.
    let level: Vec<f64> = (0..frames)
        .map(|t| power_db(kick[t * n..(t + 1) * n].iter().sum()))
        .collect();
    let sounding: Vec<f64> = level.iter().copied().filter(|&l| l > FLOOR_DB).collect();
    if sounding.is_empty() {
        return Ok(None);
    }
    let top = quantile(sounding, 0.95);
    let hit: Vec<bool> = level
        .iter()
        .map(|&l| l > FLOOR_DB && l >= top - HIT_RANGE_DB)
        .collect();

    // 2. Band: the kicks' strongest over their hits.
    let energy = |k: usize| -> f64 {
        (0..frames)
            .filter(|&t| hit[t])
            .map(|t| kick[t * n + k])
            .sum()
    };
    let Some(k) = (0..n).max_by(|&a, &b| energy(a).total_cmp(&energy(b))) else {
        return Ok(None);
    };

    // 3. Depth: how far the bass stands over the kick there, in all but the hits served.
    let over: Vec<f64> = (0..frames)
        .filter(|&t| hit[t])
        .map(|t| power_db(bass[t * n + k]) - power_db(kick[t * n + k]))
        .collect();
    let depth = quantile(over, SERVED).round().min(MAX_DUCK_DB);
    if depth < MIN_DUCK_DB {
        return Ok(None);
    }

    // 4. Shape: one dip per run of hit frames.
    let hop = tracks[kicks[0]].frames.hop_s();
    let half_window = 0.5 * tracks[kicks[0]].frames.window_s();
    let mut runs: Vec<(f64, f64)> = Vec::new();
    let mut t = 0;
    while t < frames {
        if !hit[t] {
            t += 1;
            continue;
        }
        let a = t;
        while t < frames && hit[t] {
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
            gain_db: -depth,
        });
        points.push(GainPoint {
            time_s: end,
            gain_db: -depth,
        });
        points.push(GainPoint {
            time_s: end + hop,
            gain_db: 0.0,
        });
    }
    Ok(Some(BassDuck {
        bell: DynamicBell {
            freq_hz: third_octave_band(low[k]).centre_hz,
            q: Q,
            points,
        },
        depth_db: depth,
        hits: runs.len(),
        tracks: basses,
    }))
}

/// Power of a group of tracks after their gains in the bands `low`, frame-major (frames of
/// the longest track; a shorter track adds nothing past its end).
fn group_low_power(
    tracks: &[DuckTrack<'_>],
    group: &[usize],
    low: &[usize],
) -> io::Result<Vec<f64>> {
    let n = low.len();
    let mut out: Vec<f64> = Vec::new();
    for &i in group {
        let t = &tracks[i];
        let gain = t.gain_db.unwrap_or(0.0);
        let bands = t.frames.bands();
        let mut blocks = t.frames.blocks(BAND_FRAME_BLOCK);
        let mut f = 0;
        while let Some(block) = blocks.next_block()? {
            for frame in block.chunks_exact(bands) {
                if out.len() < (f + 1) * n {
                    out.resize((f + 1) * n, 0.0);
                }
                for (o, &b) in out[f * n..(f + 1) * n].iter_mut().zip(low) {
                    let l = f64::from(frame[b]);
                    if l > FLOOR_DB {
                        *o += 10f64.powf((l + gain) / 10.0);
                    }
                }
                f += 1;
            }
        }
    }
    Ok(out)
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

    /// A kick hitting every 10th frame (two frames long) at `kick_db` in 50 and 63 Hz, and
    /// a sustained bass at `bass_db` in 40–80 Hz.
    fn song(kick_db: f64, bass_db: f64) -> (BandFrames, BandFrames) {
        let (k50, k63) = (band_at(50.0), band_at(63.0));
        let kick = band_frames(400, move |t, b| {
            let on = t % 10 < 2;
            let hit = kick_db - 3.0 * (t % 10) as f64;
            match b {
                _ if !on => FLOOR_DB,
                _ if b == k50 => hit,
                _ if b == k63 => hit - 2.0,
                _ => FLOOR_DB,
            }
        });
        let (lo, hi) = (band_at(40.0), band_at(80.0));
        let bass = band_frames(400, move |_, b| {
            if (lo..=hi).contains(&b) {
                bass_db
            } else {
                FLOOR_DB
            }
        });
        (kick, bass)
    }

    fn tracks<'a>(kick: &'a BandFrames, bass: &'a BandFrames) -> Vec<DuckTrack<'a>> {
        vec![
            DuckTrack {
                role: Role::Kick,
                frames: kick,
                gain_db: Some(0.0),
            },
            DuckTrack {
                role: Role::Bass,
                frames: bass,
                gain_db: Some(0.0),
            },
        ]
    }

    #[test]
    fn a_bass_over_the_kick_dips_in_the_kicks_band_only_while_it_hits() {
        let (kick, bass) = song(-24.0, -20.0);
        let d = duck_bass(&tracks(&kick, &bass), &[])
            .unwrap()
            .expect("a duck");
        assert_eq!(d.tracks, vec![1]);
        assert!(
            (d.bell.freq_hz - 50.0).abs() < 1.0,
            "centre {}",
            d.bell.freq_hz
        );
        // The bass stands 4 dB over the kick's first hit frame and 7 dB over its second:
        // serving nine in ten asks for 7, held to the limit.
        assert_eq!(d.depth_db, MAX_DUCK_DB);
        assert_eq!(d.hits, 40);
        let at = |time: f64| {
            let p = &d.bell.points;
            let k = p.iter().position(|q| q.time_s > time).unwrap_or(p.len());
            if k == 0 || k == p.len() {
                return p[k.saturating_sub(1).min(p.len() - 1)].gain_db;
            }
            let (a, b) = (p[k - 1], p[k]);
            a.gain_db + (b.gain_db - a.gain_db) * (time - a.time_s) / (b.time_s - a.time_s)
        };
        for hit in 1..39 {
            let t0 = hit as f64 * 0.5;
            // Full depth across the hit's two frames, rest half-way to the next hit.
            assert_eq!(at(t0 + 0.01), -d.depth_db, "hit {hit}");
            assert_eq!(at(t0 + 0.07), -d.depth_db, "hit {hit}");
            assert_eq!(at(t0 + 0.3), 0.0, "between hits {hit}");
        }
        assert!(d.bell.points.windows(2).all(|w| w[0].time_s < w[1].time_s));
    }

    #[test]
    fn the_dip_is_bounded_and_follows_relative_levels_only() {
        let (kick, bass) = song(-40.0, -10.0);
        let d = duck_bass(&tracks(&kick, &bass), &[]).unwrap().unwrap();
        assert_eq!(d.depth_db, MAX_DUCK_DB);
        // The same stems 12 dB hotter on the way in, the faders 12 dB lower: the same duck.
        let (k2, b2) = song(-28.0, 2.0);
        let mut t = tracks(&k2, &b2);
        t[0].gain_db = Some(-12.0);
        t[1].gain_db = Some(-12.0);
        assert_eq!(duck_bass(&t, &[]).unwrap(), Some(d));
    }

    #[test]
    fn nothing_is_done_where_the_kick_stands_over_the_bass_or_either_is_missing() {
        let (kick, bass) = song(-10.0, -20.0);
        assert_eq!(duck_bass(&tracks(&kick, &bass), &[]).unwrap(), None);
        let (kick, bass) = song(-24.0, -20.0);
        let mut t = tracks(&kick, &bass);
        t[0].gain_db = None;
        assert_eq!(duck_bass(&t, &[]).unwrap(), None);
        t[0].gain_db = Some(0.0);
        t[1].role = Role::Keys;
        assert_eq!(duck_bass(&t, &[]).unwrap(), None);
    }

    #[test]
    fn a_bass_paired_with_another_kind_of_track_is_left_alone() {
        let (kick, bass) = song(-24.0, -20.0);
        let mut t = tracks(&kick, &bass);
        t.push(DuckTrack {
            role: Role::Guitar,
            frames: &bass,
            gain_db: Some(0.0),
        });
        let pair = |b| Relation {
            a: 1,
            b,
            correlation: 0.9,
            ..Relation::default()
        };
        assert_eq!(duck_bass(&t, &[pair(2)]).unwrap(), None);
        t[2].role = Role::Bass;
        let d = duck_bass(&t, &[pair(2)]).unwrap().unwrap();
        assert_eq!(d.tracks, vec![1, 2]);
    }
}
