//! Stereo image: where each track sits between the speakers.
//!
//! An auto-panner in the spirit of Perez-Gonzalez & Reiss (2007): the low end and the focus
//! (kick, snare, bass, lead) stay in the centre; stereo stems stay stereo at a width chosen
//! by role; same-role mono groups (double-tracked guitars, backing vocals, toms) are spread
//! symmetrically and keep their shape; every other mono track gets a side and a distance
//! chosen so that
//! * left and right carry the same energy in each third-octave band over the song (from the
//!   long-term band spectra at the faders),
//! * tracks that mask each other (the excitation model of [`crate::analysis::masking`],
//!   each pair alone) sit apart, and a track that masks a centred one moves off the centre,
//! * brighter tracks sit wider (a low part near the middle keeps the low mids centred),
//!
//! and the mix stays mono-compatible: its left/right correlation and the loss when folded
//! to mono, estimated from the placements, are kept in bounds by narrowing everything.

use std::collections::BTreeMap;

use rayon::prelude::*;

use super::roles::Role;
use crate::analysis::masking::{AudibilityCriterion, MaskingModel};
use crate::analysis::relation::Relation;
use crate::analysis::spectrum::{Spectrum, THIRD_OCTAVE_BANDS, third_octave_band};
use crate::dsp::pan;

/// Corner of the low-end mono, Hz: the side is 16 dB down at 120 Hz and 28 dB down at
/// 100 Hz, so bass and kick energy plays from both speakers alike (cutting a record, a
/// club system, a phone held sideways), while the image of the low mids stays.
pub const MONO_BELOW_HZ: f64 = 150.0;
/// Pan positions a free mono track may take.
const POSITIONS: [f64; 11] = [
    -0.8, -0.65, -0.5, -0.35, -0.2, 0.0, 0.2, 0.35, 0.5, 0.65, 0.8,
];
/// The widest position a mono track takes.
const WIDEST: f64 = 0.8;
/// Shifts of a group's centre (all members together, so its shape holds), tried when a
/// group is not symmetric in level: a loud cello left of a soft violin leans the mix left.
const GROUP_SHIFTS: [f64; 5] = [-0.2, -0.1, 0.0, 0.1, 0.2];
/// Balance-control settings tried on a stereo stem that leans to one side by at least
/// [`LEAN_DB`]: the stem stays stereo, its lean is countered (a piano recorded with the
/// low strings' mic closer leans the whole mix when it is its loudest part).
const STEREO_TRIMS: [f64; 7] = [-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3];
/// See [`STEREO_TRIMS`], dB (left over right, at the width it plays at).
const LEAN_DB: f64 = 0.5;
/// Playback level the pairwise masking is judged at, dB SPL.
const MASKING_SPL: f64 = 85.0;
/// Weights of the placement cost: per-band balance (per dB², left over right), broadband
/// balance (per dB²), masking between neighbours, distance from the preferred width.
const W_BANDS: f64 = 0.15;
const W_BROADBAND: f64 = 0.2;
const W_MASKING: f64 = 1.0;
const W_WIDTH: f64 = 0.5;
/// The mix must not collapse towards mono: below this side-over-mid energy over the song
/// (dB; the benchmark wants −20…−6) each dB short costs [`W_NARROW`] per dB².
const MIN_SIDE_TO_MID_DB: f64 = -17.0;
const W_NARROW: f64 = 0.1;
/// Sign patterns are searched exhaustively up to this many free variables, greedily above.
const EXHAUSTIVE_MAX: usize = 12;
/// The local search starts from this many of the best sign patterns.
const STARTS: usize = 6;
/// Mono compatibility: the estimated fold-down loss stays under this, dB (the benchmark
/// allows 2 LU) and the left/right correlation over this.
const MAX_MONO_LOSS_DB: f64 = 1.5;
const MIN_CORRELATION: f64 = 0.3;

/// A pan decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// −1 (left) … +1 (right).
    pub pan: f64,
    /// Width of a stereo source (1 = as recorded).
    pub width: f64,
    /// Gain that gives back what the placement takes from the track's loudness, dB: a
    /// narrowed stereo stem loses the energy of its unrelated parts, a panned mono track
    /// what the low-end mono folds of it. Added to the fader so that the level decision
    /// holds wherever the track sits.
    pub makeup_db: f64,
}

/// What the panner knows of one track.
pub struct PanTrack<'a> {
    /// Its role.
    pub role: Role,
    /// Channels of the stem (1 or 2).
    pub channels: usize,
    /// Fader, dB; `None` for a muted track (it weighs nothing).
    pub fader_db: Option<f64>,
    /// Its spectra (long-term bands, short-time frames, stereo image).
    pub spectrum: &'a Spectrum,
}

/// How far apart a group of same-role mono tracks is spread (double-tracked guitars wide,
/// toms across the kit, backing vocals around the lead).
fn group_spread(role: Role) -> f64 {
    match role {
        Role::Guitar => 0.8,
        Role::Tom => 0.6,
        Role::BackingVocal => 0.6,
        Role::Overhead | Role::Room => 1.0,
        _ => 0.5,
    }
}

/// Width of a stereo stem by role: the kit and the room as recorded, pads and strings
/// nearly so, other instruments a little narrower so they leave the sides to the spread
/// parts; a stereo stem of a centred role stays narrow so the focus keeps its place.
fn role_width(role: Role) -> f64 {
    match role {
        Role::Overhead | Role::Room | Role::Pad => 1.0,
        Role::Strings | Role::Fx => 0.9,
        r if r.is_centred() => 0.5,
        _ => 0.8,
    }
}

/// Preferred distance from the centre of a free mono track from its spectral centroid:
/// 0.25 at 200 Hz and below, 0.7 at 5 kHz and above (brighter is wider; low parts near
/// the middle).
fn preferred_distance(centroid_hz: Option<f64>) -> f64 {
    let c = centroid_hz.unwrap_or(1000.0).max(1.0);
    let x = ((c / 200.0).log2() / (5000.0f64 / 200.0).log2()).clamp(0.0, 1.0);
    0.25 + 0.45 * x
}

/// How a track enters the layout.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// Stays in the centre (centred roles, muted tracks).
    Centre,
    /// A stereo stem: its share of energy on the left (0…1) at the width it will play
    /// at, its correlation, and whether it leans enough to get a balance trim.
    Stereo {
        left_share: f64,
        correlation: f64,
        trimmed: bool,
        /// The width it plays at.
        width: f64,
    },
    /// A free mono track with its preferred distance from the centre.
    Free { preferred: f64 },
    /// A member of group `group`, at `offset` from the group's centre when the group is not
    /// mirrored.
    Grouped { group: usize, offset: f64 },
}

/// The placement problem: band energies at the faders, kinds, and the masking between
/// pairs of mono tracks (0 = they never hide each other, 1 = each hides the other fully).
struct Layout {
    kinds: Vec<Kind>,
    /// Per track, long-term band energy at its fader (mean square per channel).
    bands: Vec<[f64; THIRD_OCTAVE_BANDS]>,
    /// Per track, its energy over all bands and over the bands above the low-end mono
    /// (where it can have a side).
    energy: Vec<(f64, f64)>,
    masking: Vec<Vec<f64>>,
    groups: usize,
    /// Pairs of tracks on the same source, lined up: their signals add in phase, with
    /// this correlation (0…1), so a side carries more than the sum of their energies.
    coherent: Vec<(usize, usize, f64)>,
}

/// The free variables: a position per free track, a mirror flag per group.
#[derive(Debug, Clone, PartialEq)]
struct Choice {
    free: Vec<f64>,
    mirrored: Vec<bool>,
    /// Per group: where its centre sits (one of [`GROUP_SHIFTS`]).
    shift: Vec<f64>,
    /// Per leaning stereo stem: its balance control (one of [`STEREO_TRIMS`]).
    trim: Vec<f64>,
}

/// First third-octave band whose image counts: the low-end mono folds everything below.
fn first_image_band() -> usize {
    (0..THIRD_OCTAVE_BANDS)
        .find(|&b| third_octave_band(b).low_hz >= MONO_BELOW_HZ)
        .unwrap_or(0)
}

impl Layout {
    /// Pan position of every mono track under `choice` (0 for centred and stereo tracks).
    fn positions(&self, choice: &Choice) -> Vec<f64> {
        let mut free = choice.free.iter();
        let mut trim = choice.trim.iter();
        self.kinds
            .iter()
            .map(|k| match *k {
                Kind::Free { .. } => *free.next().expect("one position per free track"),
                Kind::Stereo { trimmed: true, .. } => {
                    *trim.next().expect("one trim per leaning stereo stem")
                }
                Kind::Grouped { group, offset } => {
                    let side = if choice.mirrored[group] {
                        -offset
                    } else {
                        offset
                    };
                    side + choice.shift[group]
                }
                _ => 0.0,
            })
            .collect()
    }

    /// Number of leaning stereo stems (each has a trim).
    fn trims(&self) -> usize {
        self.kinds
            .iter()
            .filter(|k| matches!(k, Kind::Stereo { trimmed: true, .. }))
            .count()
    }

    /// How far from its centre the widest member of group `g` sits.
    fn reach(&self, g: usize) -> f64 {
        self.kinds
            .iter()
            .filter_map(|k| match *k {
                Kind::Grouped { group, offset } if group == g => Some(offset.abs()),
                _ => None,
            })
            .fold(0.0, f64::max)
    }

    /// Left and right energy per band with the tracks at `pos`.
    fn sides(&self, pos: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let gains: Vec<(f64, f64)> = self
            .kinds
            .iter()
            .zip(pos)
            .map(|(k, &p)| match *k {
                Kind::Stereo { left_share, .. } => {
                    let (bl, br) = pan::balance(p);
                    (
                        2.0 * left_share * bl * bl,
                        2.0 * (1.0 - left_share) * br * br,
                    )
                }
                _ => {
                    let (a, b) = pan::constant_power(p);
                    (a * a, b * b)
                }
            })
            .collect();
        let mut l = vec![0.0; THIRD_OCTAVE_BANDS];
        let mut r = vec![0.0; THIRD_OCTAVE_BANDS];
        for (&(gl, gr), e) in gains.iter().zip(&self.bands) {
            for b in 0..THIRD_OCTAVE_BANDS {
                l[b] += gl * e[b];
                r[b] += gr * e[b];
            }
        }
        // The cross term of two correlated signals on the same side: 2ρ·√(E₁E₂).
        for &(i, j, rho) in &self.coherent {
            let (gi, gj) = (gains[i], gains[j]);
            for b in 0..THIRD_OCTAVE_BANDS {
                let e = self.bands[i][b] * self.bands[j][b];
                l[b] += 2.0 * rho * (gi.0 * gj.0 * e).sqrt();
                r[b] += 2.0 * rho * (gi.1 * gj.1 * e).sqrt();
            }
        }
        (l, r)
    }

    /// The placement cost of `choice` (lower is better).
    fn cost(&self, choice: &Choice) -> f64 {
        let pos = self.positions(choice);
        let (l, r) = self.sides(&pos);
        let from = first_image_band();
        let weights: Vec<f64> = (from..THIRD_OCTAVE_BANDS)
            .map(|b| (l[b] + r[b]).powf(0.3))
            .collect();
        let wsum: f64 = weights.iter().sum();
        let mut bands = 0.0;
        let (mut lt, mut rt) = (0.0, 0.0);
        for (b, w) in (from..THIRD_OCTAVE_BANDS).zip(&weights) {
            bands += w * balance_db(l[b], r[b]).powi(2);
            lt += l[b];
            rt += r[b];
        }
        let bands = if wsum > 0.0 { bands / wsum } else { 0.0 };
        let broadband = balance_db(lt, rt).powi(2);
        let mut masking = 0.0;
        for (i, row) in self.masking.iter().enumerate() {
            for (j, &m) in row.iter().enumerate().skip(i + 1) {
                if m > 0.0 {
                    masking += m * (1.0 - 0.5 * (pos[i] - pos[j]).abs()).powi(2);
                }
            }
        }
        let width: f64 = self
            .kinds
            .iter()
            .zip(&pos)
            .filter_map(|(k, p)| match *k {
                Kind::Free { preferred } => Some((p.abs() - preferred).powi(2)),
                _ => None,
            })
            .sum::<f64>()
            + choice.shift.iter().map(|s| s * s).sum::<f64>()
            + choice.trim.iter().map(|t| t * t).sum::<f64>();
        W_BANDS * bands
            + W_BROADBAND * broadband
            + W_MASKING * masking
            + W_WIDTH * width
            + W_NARROW
                * (MIN_SIDE_TO_MID_DB - self.side_to_mid_db(&pos))
                    .max(0.0)
                    .powi(2)
    }

    /// Side over mid energy of the mix with the tracks at `pos`, dB: mid over all bands,
    /// side above the low-end mono; a stereo stem's own side at its width.
    fn side_to_mid_db(&self, pos: &[f64]) -> f64 {
        let (mut mid, mut side) = (0.0, 0.0);
        for ((k, &(total, image)), &p) in self.kinds.iter().zip(&self.energy).zip(pos) {
            let (m, s) = match *k {
                Kind::Stereo {
                    correlation, width, ..
                } => (
                    0.5 * (1.0 + correlation),
                    0.5 * (1.0 - correlation) * width * width,
                ),
                Kind::Centre => (1.0, 0.0),
                _ => {
                    let (a, b) = pan::constant_power(p);
                    (0.25 * (a + b).powi(2), 0.25 * (a - b).powi(2))
                }
            };
            mid += m * total;
            side += s * image;
        }
        10.0 * (side.max(1e-300) / mid.max(1e-300)).log10()
    }

    /// The best choice: sides searched exhaustively (each free track at its preferred
    /// distance, each group either way); from the best few, each free track moved over the
    /// allowed positions, pairs of free tracks swapped and groups mirrored, until nothing
    /// improves. Deterministic: ties keep the earlier.
    fn solve(&self) -> Choice {
        let preferred: Vec<f64> = self
            .kinds
            .iter()
            .filter_map(|k| match *k {
                Kind::Free { preferred } => Some(nearest_position(preferred)),
                _ => None,
            })
            .collect();
        let nf = preferred.len();
        let nv = nf + self.groups;
        let with_signs = |bits: u64| Choice {
            free: (0..nf)
                .map(|i| {
                    // Alternate sides by default (bit clear), so the first pattern is the
                    // role-only layout.
                    let left = (i % 2 == 0) != (bits >> i & 1 == 1);
                    if left { -preferred[i] } else { preferred[i] }
                })
                .collect(),
            mirrored: (0..self.groups)
                .map(|g| bits >> (nf + g) & 1 == 1)
                .collect(),
            shift: vec![0.0; self.groups],
            trim: vec![0.0; self.trims()],
        };
        let patterns = if nv <= EXHAUSTIVE_MAX { 1u64 << nv } else { 1 };
        let mut starts: Vec<(f64, Choice)> = (0..patterns)
            .map(|bits| {
                let c = with_signs(bits);
                (self.cost(&c), c)
            })
            .collect();
        // Stable: equal costs keep their pattern order.
        starts.sort_by(|a, b| a.0.total_cmp(&b.0));
        starts.truncate(STARTS);
        let mut best: Option<(f64, Choice)> = None;
        for (cost, start) in starts {
            let (cost, choice) = self.descend(cost, start);
            if best.as_ref().is_none_or(|(b, _)| cost < b - 1e-12) {
                best = Some((cost, choice));
            }
        }
        best.expect("at least the first pattern").1
    }

    /// Local search from `choice`: single moves, swaps, mirrors, while the cost falls.
    fn descend(&self, mut cost: f64, mut choice: Choice) -> (f64, Choice) {
        let nf = choice.free.len();
        let try_move = |c: Choice, best: &mut Choice, cost: &mut f64| {
            let k = self.cost(&c);
            if k < *cost - 1e-12 {
                *best = c;
                *cost = k;
                true
            } else {
                false
            }
        };
        for _sweep in 0..20 {
            let mut improved = false;
            for i in 0..nf {
                for &p in &POSITIONS {
                    let mut c = choice.clone();
                    c.free[i] = p;
                    improved |= try_move(c, &mut choice, &mut cost);
                }
                for j in i + 1..nf {
                    let mut c = choice.clone();
                    c.free.swap(i, j);
                    improved |= try_move(c, &mut choice, &mut cost);
                }
            }
            for g in 0..self.groups {
                let mut c = choice.clone();
                c.mirrored[g] = !c.mirrored[g];
                improved |= try_move(c, &mut choice, &mut cost);
                // Only shifts that keep every member within the widest position: the
                // group's shape holds.
                let reach = self.reach(g);
                for &shift in GROUP_SHIFTS
                    .iter()
                    .filter(|s| reach + s.abs() <= WIDEST + 1e-9)
                {
                    let mut c = choice.clone();
                    c.shift[g] = shift;
                    improved |= try_move(c, &mut choice, &mut cost);
                }
            }
            for t in 0..choice.trim.len() {
                for &trim in &STEREO_TRIMS {
                    let mut c = choice.clone();
                    c.trim[t] = trim;
                    improved |= try_move(c, &mut choice, &mut cost);
                }
            }
            if !improved {
                break;
            }
        }
        (cost, choice)
    }
}

/// Share of a stereo stem's energy on the left (0…1) once its width is set to `width`:
/// the width control sends (1 − w)/2 of each channel to the other side, so a stem that
/// leans one way leans less the narrower it plays (its channels correlated by
/// `correlation`).
fn narrowed_left_share(left_share: f64, correlation: f64, width: f64) -> f64 {
    let (el, er) = (left_share, 1.0 - left_share);
    let a = 0.5 * (1.0 + width);
    let b = 0.5 * (1.0 - width);
    let cross = 2.0 * a * b * correlation.clamp(-1.0, 1.0) * (el * er).sqrt();
    let l = (a * a * el + b * b * er + cross).max(0.0);
    let r = (b * b * el + a * a * er + cross).max(0.0);
    if l + r > 0.0 { l / (l + r) } else { 0.5 }
}

/// Left over right energy, dB, within ±20 dB; 0 where both are empty.
fn balance_db(l: f64, r: f64) -> f64 {
    if l + r <= 0.0 {
        return 0.0;
    }
    (10.0 * (l.max(1e-300) / r.max(1e-300)).log10()).clamp(-20.0, 20.0)
}

fn nearest_position(x: f64) -> f64 {
    POSITIONS
        .iter()
        .copied()
        .filter(|p| *p > 0.0)
        .min_by(|a, b| (a - x).abs().total_cmp(&(b - x).abs()))
        .expect("positions on the right")
}

/// The mix's estimated left/right correlation and loss when folded to mono (dB), from the
/// tracks' energies at their placements, taking different tracks as unrelated.
fn mono_compatibility(
    kinds: &[Kind],
    energy: &[f64],
    places: &[Placement],
    channels: &[usize],
) -> (f64, f64) {
    let (mut el, mut er, mut x) = (0.0, 0.0, 0.0);
    for (((k, &e), p), &ch) in kinds.iter().zip(energy).zip(places).zip(channels) {
        if ch == 2 {
            let rho = match *k {
                Kind::Stereo { correlation, .. } => correlation,
                _ => 1.0,
            };
            let a = 0.5 * (1.0 + p.width);
            let b = 0.5 * (1.0 - p.width);
            let (bl, br) = pan::balance(p.pan);
            let side = (a * a + b * b + 2.0 * a * b * rho) * e;
            el += bl * bl * side;
            er += br * br * side;
            x += bl * br * (2.0 * a * b + (a * a + b * b) * rho) * e;
        } else {
            let (a, b) = pan::constant_power(p.pan);
            el += a * a * e;
            er += b * b * e;
            x += a * b * e;
        }
    }
    if el + er <= 0.0 {
        return (1.0, 0.0);
    }
    let correlation = x / (el * er).sqrt().max(1e-300);
    let loss = 10.0 * ((el + er) / 2.0 / ((el + er + 2.0 * x) / 4.0).max(1e-300)).log10();
    (correlation, loss)
}

/// Masking between each free mono track and every other mono track, each pair heard alone
/// at their faders: 1 minus the mean of the two tracks' mean audible shares.
fn pair_masking(tracks: &[PanTrack<'_>], kinds: &[Kind]) -> Vec<Vec<f64>> {
    let n = tracks.len();
    let mono = |i: usize| tracks[i].fader_db.is_some() && !matches!(kinds[i], Kind::Stereo { .. });
    let pairs: Vec<(usize, usize)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .filter(|&(i, j)| {
            mono(i)
                && mono(j)
                && (matches!(kinds[i], Kind::Free { .. }) || matches!(kinds[j], Kind::Free { .. }))
        })
        .collect();
    let values: Vec<f64> = pairs
        .par_iter()
        .map(|&(i, j)| {
            let frames = [&tracks[i].spectrum.frames, &tracks[j].spectrum.frames];
            let gains = [
                tracks[i].fader_db.unwrap_or(0.0),
                tracks[j].fader_db.unwrap_or(0.0),
            ];
            let Ok(model) = MaskingModel::new(&frames) else {
                return 0.0;
            };
            let Ok(a) = model.audibility(&gains, MASKING_SPL, &AudibilityCriterion::default())
            else {
                return 0.0;
            };
            let heard =
                |t: &crate::analysis::masking::TrackAudibility| t.mean_audible_share.unwrap_or(1.0);
            1.0 - 0.5 * (heard(&a[0]) + heard(&a[1]))
        })
        .collect();
    let mut m = vec![vec![0.0; n]; n];
    for (&(i, j), v) in pairs.iter().zip(values) {
        m[i][j] = v;
        m[j][i] = v;
    }
    m
}

/// Places tracks (see the module notes). Muted tracks stay in the centre and weigh nothing.
/// `relations` are the pairs of tracks on the same source (lined up in time and polarity
/// before they reach the bus).
pub fn place(tracks: &[PanTrack<'_>], relations: &[Relation]) -> Vec<Placement> {
    let n = tracks.len();
    let mut kinds = vec![Kind::Centre; n];
    let mut groups: BTreeMap<Role, Vec<usize>> = BTreeMap::new();
    for (i, t) in tracks.iter().enumerate() {
        if t.fader_db.is_none() || t.role.is_centred() {
            continue;
        }
        if t.channels == 2 {
            let st = t.spectrum.stereo.as_ref();
            let bal = st
                .and_then(|s| s.balance_db)
                .unwrap_or(0.0)
                .clamp(-30.0, 30.0);
            let lin = 10f64.powf(bal / 10.0);
            let correlation = st.and_then(|s| s.correlation).unwrap_or(1.0);
            let width = role_width(t.role);
            let left_share = narrowed_left_share(lin / (1.0 + lin), correlation, width);
            kinds[i] = Kind::Stereo {
                left_share,
                correlation,
                trimmed: balance_db(left_share, 1.0 - left_share).abs() >= LEAN_DB,
                width,
            };
        } else {
            groups.entry(t.role).or_default().push(i);
        }
    }
    let mut group_count = 0;
    for (role, members) in groups {
        if members.len() == 1 {
            kinds[members[0]] = Kind::Free {
                preferred: preferred_distance(tracks[members[0]].spectrum.centroid_hz),
            };
            continue;
        }
        let spread = group_spread(role);
        let last = (members.len() - 1) as f64;
        for (k, &i) in members.iter().enumerate() {
            kinds[i] = Kind::Grouped {
                group: group_count,
                offset: spread * (-1.0 + 2.0 * k as f64 / last),
            };
        }
        group_count += 1;
    }
    let bands: Vec<[f64; THIRD_OCTAVE_BANDS]> = tracks
        .iter()
        .map(|t| {
            let g = t.fader_db.map_or(0.0, |db| 10f64.powf(db / 10.0));
            std::array::from_fn(|b| {
                t.spectrum
                    .third_octave_db
                    .get(b)
                    .map_or(0.0, |db| g * 10f64.powf(db / 10.0))
            })
        })
        .collect();
    let from = first_image_band();
    let layout = Layout {
        masking: pair_masking(tracks, &kinds),
        kinds,
        energy: bands
            .iter()
            .map(|e| (e.iter().sum(), e[from..].iter().sum()))
            .collect(),
        bands,
        groups: group_count,
        coherent: relations
            .iter()
            .filter(|r| r.a < n && r.b < n)
            .map(|r| (r.a, r.b, r.correlation.abs().min(1.0)))
            .collect(),
    };
    let choice = layout.solve();
    let positions = layout.positions(&choice);
    let mut places: Vec<Placement> = tracks
        .iter()
        .zip(&layout.kinds)
        .zip(positions)
        .map(|((t, k), pos)| match *k {
            Kind::Stereo { width, .. } => Placement {
                pan: pos,
                width,
                makeup_db: 0.0,
            },
            Kind::Centre if t.channels == 2 => Placement {
                pan: 0.0,
                width: role_width(t.role),
                makeup_db: 0.0,
            },
            _ => Placement {
                pan: pos,
                width: 1.0,
                makeup_db: 0.0,
            },
        })
        .collect();
    let energy: Vec<f64> = layout.energy.iter().map(|&(total, _)| total).collect();
    let channels: Vec<usize> = tracks.iter().map(|t| t.channels).collect();
    for _ in 0..8 {
        let (corr, loss) = mono_compatibility(&layout.kinds, &energy, &places, &channels);
        if corr >= MIN_CORRELATION && loss <= MAX_MONO_LOSS_DB {
            break;
        }
        for p in &mut places {
            p.pan *= 0.85;
            p.width *= 0.85;
        }
    }
    for ((p, t), k) in places.iter_mut().zip(tracks).zip(&layout.kinds) {
        p.makeup_db = makeup_db(t, k, p);
    }
    places
}

/// The loudness a placement takes from a track, as a gain that gives it back, dB.
fn makeup_db(track: &PanTrack<'_>, kind: &Kind, place: &Placement) -> f64 {
    let kept = if track.channels == 2 {
        // Width w keeps (1 + w²)/2 of the unrelated part, all of the shared part.
        let rho = match *kind {
            Kind::Stereo { correlation, .. } => correlation,
            _ => track
                .spectrum
                .stereo
                .as_ref()
                .and_then(|s| s.correlation)
                .unwrap_or(1.0),
        }
        .clamp(-1.0, 1.0);
        let w = place.width;
        // A balance trim takes from one side what it leaves on the other.
        let (bl, br) = pan::balance(place.pan);
        (0.5 * (1.0 + w * w) + 0.5 * (1.0 - w * w) * rho) * 0.5 * (bl * bl + br * br)
    } else {
        // Below the low-end mono corner a panned track plays as its mid, (a + b)/2 on both
        // sides: (a + b)²/2 of its power there.
        let energy: Vec<f64> = track
            .spectrum
            .third_octave_db
            .iter()
            .map(|d| 10f64.powf(d / 10.0))
            .collect();
        let total: f64 = energy.iter().sum();
        let low: f64 = energy
            .iter()
            .enumerate()
            .filter(|(b, _)| third_octave_band(*b).centre_hz < MONO_BELOW_HZ)
            .map(|(_, e)| e)
            .sum();
        let share = if total > 0.0 { low / total } else { 0.0 };
        let (a, b) = pan::constant_power(place.pan);
        1.0 - share * (1.0 - 0.5 * (a + b).powi(2))
    };
    -10.0 * kept.max(0.1).log10()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::spectrum::{BandFrames, FRAME_HOP_S, Stereo};
    use crate::dsp::testsig::Rng;

    /// A spectrum whose long-term bands are `db` and whose frames hold the same levels
    /// for 200 frames (10 s), so the masking model sees the track playing throughout.
    fn spectrum(db: [f64; THIRD_OCTAVE_BANDS], stereo: Option<Stereo>) -> Spectrum {
        let e: f64 = db.iter().map(|d| 10f64.powf(d / 10.0)).sum();
        let centroid = (0..THIRD_OCTAVE_BANDS)
            .map(|b| 10f64.powf(db[b] / 10.0) * third_octave_band(b).centre_hz)
            .sum::<f64>()
            / e;
        Spectrum {
            third_octave_db: db.to_vec(),
            centroid_hz: Some(centroid),
            stereo,
            frames: BandFrames::from_db(
                FRAME_HOP_S,
                0.1,
                THIRD_OCTAVE_BANDS,
                &(0..200)
                    .flat_map(|_| db.iter().map(|&d| d as f32))
                    .collect::<Vec<_>>(),
            )
            .unwrap(),
            ..Spectrum::default()
        }
    }

    /// A random instrument: a bump of energy around a random centre band.
    fn random_spectrum(rng: &mut Rng) -> [f64; THIRD_OCTAVE_BANDS] {
        let centre = 8.0 + 18.0 * 0.5 * (rng.uniform() + 1.0);
        let width = 2.0 + 4.0 * 0.5 * (rng.uniform() + 1.0);
        std::array::from_fn(|b| {
            -30.0 - 3.0 * ((b as f64 - centre) / width).powi(2) + 2.0 * rng.uniform()
        })
    }

    fn tracks<'a>(
        roles: &[Role],
        channels: &[usize],
        spectra: &'a [Spectrum],
    ) -> Vec<PanTrack<'a>> {
        roles
            .iter()
            .zip(channels)
            .zip(spectra)
            .map(|((&role, &channels), spectrum)| PanTrack {
                role,
                channels,
                fader_db: Some(0.0),
                spectrum,
            })
            .collect()
    }

    /// Left over right energy of a placement of mono tracks in the bands above the low-end
    /// mono that hold at least 1 % of the energy there: the energy-weighted mean of its
    /// size and the worst band, dB.
    fn band_balance_db(spectra: &[Spectrum], places: &[Placement]) -> (f64, f64) {
        let sides: Vec<(f64, f64)> = (first_image_band()..THIRD_OCTAVE_BANDS)
            .map(|b| {
                let (mut l, mut r) = (0.0, 0.0);
                for (s, p) in spectra.iter().zip(places) {
                    let e = 10f64.powf(s.third_octave_db[b] / 10.0);
                    let (a, c) = pan::constant_power(p.pan);
                    l += a * a * e;
                    r += c * c * e;
                }
                (l, r)
            })
            .collect();
        let total: f64 = sides.iter().map(|(l, r)| l + r).sum();
        let (mut mean, mut worst) = (0.0, 0.0f64);
        for (l, r) in sides.iter().filter(|(l, r)| l + r >= 0.01 * total) {
            let d = balance_db(*l, *r).abs();
            mean += d * (l + r) / total;
            worst = worst.max(d);
        }
        (mean, worst)
    }

    #[test]
    fn centred_roles_stay_centred_whatever_the_spectra() {
        let mut rng = Rng(0xce47);
        let roles = [
            Role::Kick,
            Role::Snare,
            Role::Bass,
            Role::LeadVocal,
            Role::Guitar,
            Role::Keys,
            Role::Synth,
            Role::Pad,
            Role::HiHat,
            Role::Percussion,
        ];
        let channels = [1, 1, 1, 1, 1, 1, 1, 2, 1, 1];
        for _ in 0..5 {
            let spectra: Vec<Spectrum> = (0..roles.len())
                .map(|_| spectrum(random_spectrum(&mut rng), None))
                .collect();
            let p = place(&tracks(&roles, &channels, &spectra), &[]);
            for (i, place) in p.iter().enumerate().take(4) {
                assert_eq!(place.pan, 0.0, "track {i}");
            }
            assert_eq!(p[7].pan, 0.0, "a stereo pad is kept stereo, not panned");
            assert!(p[7].width > 0.5);
            assert!(p.iter().all(|x| (-1.0..=1.0).contains(&x.pan)));
            assert!(p[4..].iter().filter(|x| x.pan != 0.0).count() >= 4, "{p:?}");
        }
    }

    #[test]
    fn sides_balance_per_band() {
        // Three pairs of similar instruments (random spectra, the two of a pair within
        // ±1 dB per band of each other), listed apart so that the order of the tracks says
        // nothing: a balanced layout exists and the panner must find it.
        let mut rng = Rng(0xba1a);
        let roles = [
            Role::Keys,
            Role::Synth,
            Role::Brass,
            Role::Strings,
            Role::Percussion,
            Role::Other,
        ];
        for _ in 0..4 {
            let bases: Vec<_> = (0..3).map(|_| random_spectrum(&mut rng)).collect();
            let spectra: Vec<Spectrum> = (0..6)
                .map(|i| {
                    let s: [f64; THIRD_OCTAVE_BANDS] =
                        std::array::from_fn(|b| bases[i % 3][b] + rng.uniform());
                    spectrum(s, None)
                })
                .collect();
            let p = place(&tracks(&roles, &[1; 6], &spectra), &[]);
            let (mean, worst) = band_balance_db(&spectra, &p);
            assert!(
                mean < 0.75 && worst < 2.0,
                "mean {mean:.2} dB, worst {worst:.2} dB: {p:?}"
            );
            // Better than alternating sides in track order.
            let naive: Vec<Placement> = [-0.35, 0.35, -0.5, 0.5, -0.65, 0.65]
                .iter()
                .map(|&pan| Placement {
                    pan,
                    width: 1.0,
                    makeup_db: 0.0,
                })
                .collect();
            let (naive_mean, _) = band_balance_db(&spectra, &naive);
            assert!(mean < naive_mean, "{mean} vs {naive_mean}");
        }
    }

    #[test]
    fn a_pair_on_the_same_source_is_balanced_as_it_sums() {
        // A piano's close mic and its room mic (correlated 0.8, lined up) and two other
        // parts: the two mics add in phase on whichever side they share, so the layout must
        // balance the coherent sum, not the sum of their energies.
        let mut rng = Rng(0xc0e7);
        let roles = [Role::Keys, Role::Room, Role::Guitar, Role::Brass];
        for _ in 0..4 {
            let piano = random_spectrum(&mut rng);
            let spectra: Vec<Spectrum> = [
                piano,
                std::array::from_fn(|b| piano[b] - 3.0 + rng.uniform()),
                random_spectrum(&mut rng),
                random_spectrum(&mut rng),
            ]
            .into_iter()
            .map(|s| spectrum(s, None))
            .collect();
            let rho = 0.8;
            let related = [Relation {
                a: 0,
                b: 1,
                correlation: rho,
                coherence: rho,
                polarity_inverted: false,
                lag_samples: 0,
                lag_ms: 0.0,
            }];
            let p = place(&tracks(&roles, &[1; 4], &spectra), &related);
            let g: Vec<(f64, f64)> = p.iter().map(|x| pan::constant_power(x.pan)).collect();
            let (mut l, mut r) = (0.0, 0.0);
            for b in first_image_band()..THIRD_OCTAVE_BANDS {
                let e: Vec<f64> = spectra
                    .iter()
                    .map(|s| 10f64.powf(s.third_octave_db[b] / 10.0))
                    .collect();
                for k in 0..4 {
                    l += (g[k].0 * g[k].0) * e[k];
                    r += (g[k].1 * g[k].1) * e[k];
                }
                l += 2.0 * rho * g[0].0 * g[1].0 * (e[0] * e[1]).sqrt();
                r += 2.0 * rho * g[0].1 * g[1].1 * (e[0] * e[1]).sqrt();
            }
            let bal = balance_db(l, r);
            assert!(bal.abs() < 0.5, "left over right {bal:.2} dB: {p:?}");
        }
    }

    #[test]
    fn tracks_that_mask_each_other_sit_apart() {
        // Two parts in the same band, a third elsewhere, a lead in the middle.
        let band = |c: f64| -> [f64; THIRD_OCTAVE_BANDS] {
            std::array::from_fn(|b| -25.0 - 4.0 * (b as f64 - c).powi(2))
        };
        let spectra = [
            spectrum(band(18.0), None),
            spectrum(band(18.0), None),
            spectrum(band(25.0), None),
            spectrum(band(20.0), None),
        ];
        let roles = [Role::Keys, Role::Synth, Role::Percussion, Role::LeadVocal];
        let p = place(&tracks(&roles, &[1; 4], &spectra), &[]);
        assert!(p[0].pan * p[1].pan < 0.0, "opposite sides: {p:?}");
        assert!((p[0].pan - p[1].pan).abs() >= 0.6, "{p:?}");
        assert_eq!(p[3].pan, 0.0);
    }

    #[test]
    fn a_group_keeps_its_internal_balance() {
        let mut rng = Rng(0x9e0);
        let spectra: Vec<Spectrum> = (0..6)
            .map(|_| spectrum(random_spectrum(&mut rng), None))
            .collect();
        let roles = [
            Role::Guitar,
            Role::Guitar,
            Role::BackingVocal,
            Role::BackingVocal,
            Role::BackingVocal,
            Role::Keys,
        ];
        let p = place(&tracks(&roles, &[1; 6], &spectra), &[]);
        // Double-tracked guitars wide and symmetric; backing vocals evenly around the
        // centre, in order or mirrored as a whole.
        assert!(
            (p[0].pan + p[1].pan).abs() < 1e-12 && p[0].pan.abs() >= 0.6,
            "{p:?}"
        );
        assert!(
            (p[2].pan + p[4].pan).abs() < 1e-12 && p[3].pan == 0.0,
            "{p:?}"
        );
        assert!(p[2].pan.abs() > 0.3);
    }

    #[test]
    fn a_leaning_stereo_stem_is_trimmed_until_the_sides_match() {
        // The loudest part is a stereo piano 3 dB heavier on the left; a lead in the
        // centre and two quieter mono parts with different spectra.
        let leaning = Stereo {
            correlation: Some(0.6),
            balance_db: Some(3.0),
            ..Stereo::default()
        };
        let mut rng = Rng(0x1ea2);
        let piano = random_spectrum(&mut rng).map(|d| d + 8.0);
        let spectra = vec![
            spectrum(piano, Some(leaning)),
            spectrum(random_spectrum(&mut rng), None),
            spectrum(random_spectrum(&mut rng), None),
            spectrum(random_spectrum(&mut rng).map(|d| d + 6.0), None),
        ];
        let roles = [Role::Keys, Role::Guitar, Role::Synth, Role::LeadVocal];
        let channels = [2, 1, 1, 1];
        let p = place(&tracks(&roles, &channels, &spectra), &[]);
        // Broadband left/right of the placement (the piano's lean at its width, then its
        // balance control; the mono parts by the constant-power law).
        let side_energy = |places: &[Placement]| -> f64 {
            let (mut l, mut r) = (0.0, 0.0);
            for ((s, pl), &ch) in spectra.iter().zip(places).zip(&channels) {
                let e: f64 = s.third_octave_db.iter().map(|d| 10f64.powf(d / 10.0)).sum();
                let (gl, gr) = if ch == 2 {
                    let share = narrowed_left_share(
                        10f64.powf(0.3) / (1.0 + 10f64.powf(0.3)),
                        0.6,
                        pl.width,
                    );
                    let (bl, br) = pan::balance(pl.pan);
                    (2.0 * share * bl * bl, 2.0 * (1.0 - share) * br * br)
                } else {
                    let (a, b) = pan::constant_power(pl.pan);
                    (a * a, b * b)
                };
                l += gl * e;
                r += gr * e;
            }
            balance_db(l, r)
        };
        let untrimmed: Vec<Placement> = p
            .iter()
            .enumerate()
            .map(|(i, x)| Placement {
                pan: if i == 0 { 0.0 } else { x.pan },
                ..*x
            })
            .collect();
        assert!(side_energy(&untrimmed).abs() > 1.0, "the lean shows: {p:?}");
        assert!(side_energy(&p).abs() < 0.5, "{} dB: {p:?}", side_energy(&p));
        assert!(
            p[0].pan > 0.0 && p[0].pan <= 0.3,
            "a trim to the right: {p:?}"
        );
        assert_eq!(p[0].width, role_width(Role::Keys), "kept stereo");
        assert_eq!(p[3].pan, 0.0);
        // What the trim takes from the piano's loudness is given back.
        let (bl, br) = pan::balance(p[0].pan);
        let w = p[0].width;
        let kept = (0.5 * (1.0 + w * w) + 0.5 * (1.0 - w * w) * 0.6) * 0.5 * (bl * bl + br * br);
        assert!((p[0].makeup_db + 10.0 * kept.log10()).abs() < 1e-9, "{p:?}");
    }

    #[test]
    fn a_mix_of_centred_parts_and_two_dark_ones_is_not_left_mono() {
        // Loud kick, bass and lead in the centre, two dark mono parts that would sit near
        // the middle by their brightness alone: the side must still reach −18 dB of the mid
        // over the song (the benchmark's range is −20…−6; the panner keeps a margin).
        let mut rng = Rng(0x5a11);
        let roles = [
            Role::Kick,
            Role::Bass,
            Role::LeadVocal,
            Role::Keys,
            Role::Brass,
        ];
        for _ in 0..4 {
            let spectra: Vec<Spectrum> = (0..roles.len())
                .map(|i| {
                    let lift = if i < 3 { 8.0 } else { 0.0 };
                    let mut s = spectrum(random_spectrum(&mut rng).map(|d| d + lift), None);
                    if i >= 3 {
                        s.centroid_hz = Some(150.0);
                    }
                    s
                })
                .collect();
            let p = place(&tracks(&roles, &[1; 5], &spectra), &[]);
            let (mut mid, mut side) = (0.0, 0.0);
            for (s, x) in spectra.iter().zip(&p) {
                let (a, b) = pan::constant_power(x.pan);
                for (band, db) in s.third_octave_db.iter().enumerate() {
                    let e = 10f64.powf(db / 10.0);
                    mid += 0.25 * (a + b).powi(2) * e;
                    if band >= first_image_band() {
                        side += 0.25 * (a - b).powi(2) * e;
                    }
                }
            }
            let sm = 10.0 * (side / mid).log10();
            assert!(sm >= -18.0, "side/mid {sm:.1} dB: {p:?}");
            let (bal, _) = band_balance_db(&spectra, &p);
            assert!(bal < 1.0, "balance {bal:.2} dB: {p:?}");
        }
    }

    #[test]
    fn the_mix_stays_mono_compatible() {
        // An out-of-phase wide stereo synth and many bright mono parts.
        let mut rng = Rng(0x3030);
        let wide = Stereo {
            correlation: Some(-0.4),
            balance_db: Some(0.0),
            ..Stereo::default()
        };
        let loud = random_spectrum(&mut rng).map(|d| d + 10.0);
        let mut spectra = vec![spectrum(loud, Some(wide))];
        spectra.extend((0..5).map(|_| spectrum(random_spectrum(&mut rng), None)));
        let roles = [
            Role::Synth,
            Role::HiHat,
            Role::Percussion,
            Role::Keys,
            Role::Brass,
            Role::Fx,
        ];
        let channels = [2, 1, 1, 1, 1, 1];
        let t = tracks(&roles, &channels, &spectra);
        let p = place(&t, &[]);
        assert!(p[0].width < role_width(Role::Synth), "narrowed: {p:?}");
        // What the narrowing takes from the synth's loudness is given back.
        let w = p[0].width;
        let kept = 0.5 * (1.0 + w * w) - 0.2 * (1.0 - w * w);
        assert!((p[0].makeup_db + 10.0 * kept.log10()).abs() < 1e-9, "{p:?}");
        let kinds: Vec<Kind> = p
            .iter()
            .zip(&channels)
            .map(|(_, &c)| {
                if c == 2 {
                    Kind::Stereo {
                        left_share: 0.5,
                        correlation: -0.4,
                        trimmed: false,
                        width: 1.0,
                    }
                } else {
                    Kind::Centre
                }
            })
            .collect();
        let energy: Vec<f64> = spectra
            .iter()
            .map(|s| s.third_octave_db.iter().map(|d| 10f64.powf(d / 10.0)).sum())
            .collect();
        let (corr, loss) = mono_compatibility(&kinds, &energy, &p, &channels);
        assert!(
            corr > 0.0 && loss <= 2.0,
            "correlation {corr}, loss {loss} dB"
        );
    }

    #[test]
    fn mono_compatibility_estimate_matches_the_pan_law() {
        // One mono source hard left: uncorrelated sides, 3 dB lost folded to mono.
        let (c, l) = mono_compatibility(
            &[Kind::Centre],
            &[1.0],
            &[Placement {
                pan: -1.0,
                width: 1.0,
                makeup_db: 0.0,
            }],
            &[1],
        );
        assert!(c.abs() < 1e-6 && (l - 3.01).abs() < 0.01, "{c} {l}");
        // Centred: fully correlated, nothing lost.
        let (c, l) = mono_compatibility(
            &[Kind::Centre],
            &[1.0],
            &[Placement {
                pan: 0.0,
                width: 1.0,
                makeup_db: 0.0,
            }],
            &[1],
        );
        assert!((c - 1.0).abs() < 1e-9 && l.abs() < 1e-9);
    }
}
