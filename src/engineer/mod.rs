//! The decisions, one file per domain. The engineer reads the analysis and writes a
//! session; it renders audio only to try a decision.

pub mod crossover;
pub mod dynamics;
pub mod frequency;
pub mod level;
pub mod master;
pub mod playback;
pub mod repair;
pub mod roles;
pub mod stereo;
pub mod words;

use std::path::PathBuf;

use crate::analysis::relation::Relation;
use crate::analysis::spectrum::{BandFrames, Spectrum};
use crate::analysis::{TrackAnalysis, tempo};
use crate::dsp::crossover::Side;
use crate::session::{Bell, Crossover, FORMAT_VERSION, Master, Repair, Session, Strip, Track};
use master::Target;
use roles::Role;

/// What the engineer knows about one track before deciding.
pub struct TrackInput<'a> {
    /// Unique track name.
    pub name: String,
    /// The stem file.
    pub source: PathBuf,
    /// Channels of the stem (1 or 2).
    pub channels: usize,
    /// Its measurements.
    pub analysis: &'a TrackAnalysis,
    /// The role the user set in `mixwright.toml`, if any.
    pub configured_role: Option<Role>,
}

/// A session and the notes the engineer wants the user to read.
pub struct Decisions {
    /// The mix, ready for the console.
    pub session: Session,
    /// Things worth telling the user (silent stems, unknown roles, limits hit).
    pub warnings: Vec<String>,
}

/// The first decisions, taken before any level is set: each track's role and its repairs.
/// The levels come after, from the loudness of the repaired tracks ([`decide`]): a stem
/// whose hum or hiss the repair removes is quieter than the analysis of its input said.
pub struct Plan {
    /// Role per track.
    pub roles: Vec<Role>,
    /// Repairs per track (all off where nothing was found).
    pub repairs: Vec<Repair>,
    /// Polarity inversion per track, from lining up tracks on the same source.
    pub inverted: Vec<bool>,
    /// The pairs of tracks on the same source (lined up by the repairs, so they add in
    /// phase on the bus): the analysis's pairs less those between close mics on
    /// different drums ([`repair::can_share_source`]).
    pub relations: Vec<Relation>,
    /// Notes on the roles and repairs.
    pub warnings: Vec<String>,
}

/// A track's gain on the bus: fader, placement make-up and pan law, dB; `None` when muted.
fn bus_gain_db(fader: &level::Fader, place: &stereo::Placement, channels: usize) -> Option<f64> {
    (!fader.mute).then(|| fader.db + place.makeup_db + pan_power_db(place, channels))
}

/// Power a track's pan law puts on the bus, as the mean of the two channels, relative to
/// the track's own mean square per channel, dB: −3 for a mono track at any position
/// (constant power), 0 for a centred stereo one.
fn pan_power_db(place: &stereo::Placement, channels: usize) -> f64 {
    let (l, r) = if channels == 1 {
        crate::dsp::pan::constant_power(place.pan)
    } else {
        crate::dsp::pan::balance(place.pan)
    };
    10.0 * ((l * l + r * r) / 2.0).log10()
}

/// Roles and repairs for a song; `relations` are the pairs of `tracks` (by index) the
/// analysis found correlated (lags at `sample_rate`), of which those that can be on one
/// source are lined up.
pub fn plan(tracks: &[TrackInput<'_>], relations: &[Relation], sample_rate: u32) -> Plan {
    let mut warnings = Vec::new();
    let roles: Vec<Role> = tracks
        .iter()
        .map(|t| {
            let a = roles::assign(&t.name, t.configured_role, t.analysis.role_guess);
            warnings.extend(a.note);
            a.role
        })
        .collect();
    let names: Vec<&str> = tracks.iter().map(|t| t.name.as_str()).collect();
    let (relations, notes) = repair::on_one_source(relations, &roles, &names);
    warnings.extend(notes);
    let alignments = repair::align(&relations, &roles);
    let mut repairs = Vec::with_capacity(tracks.len());
    for ((t, &role), aligned) in tracks.iter().zip(&roles).zip(&alignments) {
        let (mut r, notes) = repair::decide(
            &t.analysis.problems,
            t.analysis.bleed.as_ref(),
            role,
            sample_rate,
        );
        warnings.extend(notes.into_iter().map(|n| format!("{}: {n}", t.name)));
        r.delay_samples = aligned.delay_samples;
        let mut moves = Vec::new();
        if aligned.invert {
            moves.push("polarity inverted".to_string());
        }
        if aligned.delay_samples != 0.0 {
            let ms = -aligned.delay_samples * 1e3 / f64::from(sample_rate);
            moves.push(format!("moved {ms:.2} ms earlier"));
        }
        if !moves.is_empty() {
            warnings.push(format!(
                "{}: lined up with the tracks on the same source: {}",
                t.name,
                moves.join(", ")
            ));
        }
        repairs.push(r);
    }
    Plan {
        roles,
        repairs,
        inverted: alignments.iter().map(|a| a.invert).collect(),
        relations,
        warnings,
    }
}

/// Whether track `i` shares its one source with another mic (a DI and its amp, a kick's
/// inside and sub mics), so that a bell on it alone would turn its phase against the other:
/// related by [`crate::analysis::relation`], and not a whole-kit mic ([`Role::is_whole_kit`]),
/// which only shares each close mic's drum. Overheads masked by the kit they capture get
/// their air lifted like any other part.
fn on_one_source(i: usize, role: Role, relations: &[Relation]) -> bool {
    !role.is_whole_kit() && relations.iter().any(|r| r.a == i || r.b == i)
}

/// Takes the rest of the decisions for a song from its [`Plan`]: faders, placement, the
/// master. `active_lufs` is each track's loudness where it plays after its repairs
/// (the analysis figure where nothing is repaired), `repaired` its spectrum after them
/// (`None`: the analysis spectrum holds).
pub fn decide(
    tracks: &[TrackInput<'_>],
    plan: Plan,
    active_lufs: &[Option<f64>],
    repaired: &[Option<Spectrum>],
    sample_rate: u32,
    target: Target,
) -> Decisions {
    let Plan {
        roles,
        repairs,
        inverted,
        relations,
        mut warnings,
    } = plan;
    let onsets: Vec<_> = tracks.iter().map(|t| &t.analysis.onset).collect();
    // A temporary folder that fails here costs only the tempo.
    let tempo_bpm = tempo::song_envelope(&onsets)
        .ok()
        .flatten()
        .and_then(|song| tempo::estimate(&song.flux, song.hop_s).ok().flatten())
        .map(|t| t.bpm);
    // What the listener will hear of each track: its spectrum after its repairs, so hum and
    // hiss that the strip removes mask nothing and weigh on no side in the models below.
    let spectra: Vec<&Spectrum> = tracks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            repaired
                .get(i)
                .and_then(Option::as_ref)
                .unwrap_or(&t.analysis.spectrum)
        })
        .collect();
    let frames: Vec<&BandFrames> = spectra.iter().map(|s| &s.frames).collect();
    let mut faders = level::set_faders(&roles, active_lufs);
    let pan_tracks: Vec<stereo::PanTrack<'_>> = tracks
        .iter()
        .zip(&roles)
        .zip(faders.iter().zip(&spectra))
        .map(|((t, &role), (f, &spectrum))| stereo::PanTrack {
            role,
            channels: t.channels,
            fader_db: (!f.mute).then_some(f.db),
            spectrum,
        })
        .collect();
    let places = stereo::place(&pan_tracks, &relations);
    let words = words::decide(
        &tracks
            .iter()
            .zip(&roles)
            .zip(faders.iter().zip(&places))
            .zip(&frames)
            .map(
                |(((t, &role), (fader, place)), &frames)| words::WordsTrack {
                    role,
                    frames,
                    gain_db: bus_gain_db(fader, place, t.channels),
                },
            )
            .collect::<Vec<_>>(),
    );
    let mut ride = vec![Vec::new(); tracks.len()];
    if let Some(lead) = words.lead {
        faders[lead].db += words.lead_fader_db;
        ride[lead] = words.ride;
    }
    // The static unmasking EQ, with the lead's level settled by the words model.
    let unmask = frequency::decide(
        &tracks
            .iter()
            .enumerate()
            .zip(&roles)
            .zip(faders.iter().zip(&places))
            .zip(&frames)
            .map(
                |((((i, t), &role), (fader, place)), &frames)| frequency::UnmaskTrack {
                    role,
                    frames,
                    gain_db: bus_gain_db(fader, place, t.channels),
                    paired: on_one_source(i, role, &relations),
                },
            )
            .collect::<Vec<_>>(),
    );
    if unmask.eq.iter().any(|e| !e.is_empty()) {
        warnings.push(format!(
            "unmasking EQ: {}",
            heard_note(unmask.after, unmask.before, "before")
        ));
    }
    for (f, m) in faders.iter_mut().zip(&unmask.makeup_db) {
        f.db += m;
    }
    // The sustained parts' dips under the drum hits, with every fader settled.
    let mut dynamic_eq = words.duck;
    let duck_tracks: Vec<dynamics::DuckTrack<'_>> = tracks
        .iter()
        .zip(&roles)
        .zip(faders.iter().zip(&places))
        .zip(&frames)
        .map(
            |(((t, &role), (fader, place)), &frames)| dynamics::DuckTrack {
                role,
                frames,
                gain_db: bus_gain_db(fader, place, t.channels),
            },
        )
        .collect();
    match dynamics::duck_under_hits(&duck_tracks, &relations) {
        Ok(ducks) => {
            for d in ducks {
                let names: Vec<&str> = d.tracks.iter().map(|&i| tracks[i].name.as_str()).collect();
                warnings.push(format!(
                    "room for the {} hits: {} dip {:.0} dB at {:.0} Hz during {} hits (heard in {:.0} % of its hit frames loud, {:.0} % quiet; before: {:.0} %, {:.0} %)",
                    d.drum.name(),
                    names.join(", "),
                    d.depth_db,
                    d.bell.freq_hz,
                    d.hits,
                    100.0 * d.heard_after[0],
                    100.0 * d.heard_after[1],
                    100.0 * d.heard_before[0],
                    100.0 * d.heard_before[1]
                ));
                for &i in &d.tracks {
                    dynamic_eq[i].push(d.bell.clone());
                }
            }
        }
        Err(e) => warnings.push(format!("room for the drum hits: no dip ({e})")),
    }
    let gains: Vec<Option<f64>> = faders
        .iter()
        .zip(&places)
        .map(|(f, p)| (!f.mute).then_some(f.db + p.makeup_db))
        .collect();
    let checks = playback::check(&roles, &frames, &gains);
    // The band split of pairs on one source, with every other level settled.
    let splits = crossover::decide(
        &tracks
            .iter()
            .zip(&roles)
            .zip(faders.iter().zip(&places))
            .zip(&spectra)
            .map(
                |(((t, &role), (fader, place)), &spectrum)| crossover::PairTrack {
                    role,
                    frames: &spectrum.frames,
                    spectrum,
                    gain_db: bus_gain_db(fader, place, t.channels),
                },
            )
            .collect::<Vec<_>>(),
        &relations,
        sample_rate,
    );
    let mut crossovers: Vec<Option<Crossover>> = vec![None; tracks.len()];
    for x in &splits {
        for (i, side, partner) in [(x.low, Side::Low, x.high), (x.high, Side::High, x.low)] {
            faders[i].db += x.makeup_db;
            crossovers[i] = Some(Crossover {
                freq_hz: x.freq_hz,
                side,
                partner: tracks[partner].name.clone(),
            });
        }
        warnings.push(format!(
            "{} and {}: split at {:.0} Hz ({} below, {} above), both {:+.1} dB: the pair heard in {:.0} % of its playing frames at worst, {:.0} % before",
            tracks[x.low].name,
            tracks[x.high].name,
            x.freq_hz,
            tracks[x.low].name,
            tracks[x.high].name,
            x.makeup_db,
            100.0 * x.after,
            100.0 * x.before
        ));
    }

    let tracks = tracks
        .iter()
        .zip(roles)
        .zip(faders)
        .zip(places.into_iter().zip(checks))
        .zip(repairs.into_iter().zip(inverted))
        .zip(dynamic_eq.into_iter().zip(ride))
        .zip(unmask.eq.into_iter().zip(crossovers))
        .map(
            |(
                (
                    ((((t, role), fader), (place, check)), (repair, polarity_inverted)),
                    (dynamic_eq, automation),
                ),
                (eq, crossover),
            )| {
                if let Some(note) = &fader.note {
                    warnings.push(format!("{}: {note}", t.name));
                }
                if let (Some(h), Some(before), Some(after)) =
                    (&check.harmonics, check.quiet, check.quiet_after)
                {
                    warnings.push(format!(
                        "{}: heard in {:.0} % of its playing frames at {} dB SPL; harmonics added at {} dB bring it to {:.0} %",
                        t.name,
                        100.0 * before,
                        playback::QUIET_SPL,
                        h.amount_db,
                        100.0 * after
                    ));
                }
                Track {
                    name: t.name.clone(),
                    source: t.source.clone(),
                    role,
                    strip: Strip {
                        fader_db: fader.db + place.makeup_db,
                        mute: fader.mute,
                        pan: place.pan,
                        width: place.width,
                        polarity_inverted,
                        repair,
                        bass_harmonics: check.harmonics,
                        crossover,
                        eq,
                        dynamic_eq,
                        automation,
                        ..Strip::default()
                    },
                }
            },
        )
        .collect();
    Decisions {
        session: Session {
            format_version: FORMAT_VERSION,
            sample_rate,
            tracks,
            master: Master {
                target_lufs: target.lufs,
                ceiling_dbtp: target.ceiling_dbtp,
            },
            tempo_bpm,
            mono_below_hz: Some(stereo::MONO_BELOW_HZ),
        },
        warnings,
    }
}

/// The model's mean audibility after a decision and `before` it (loud and quiet), in words.
fn heard_note(after: [f64; 2], before: [f64; 2], before_label: &str) -> String {
    format!(
        "tracks unmasked in {:.0} % of their playing frames loud, {:.0} % quiet ({before_label}: {:.0} %, {:.0} %)",
        100.0 * after[0],
        100.0 * after[1],
        100.0 * before[0],
        100.0 * before[1]
    )
}

/// Listens to the mix as played and refines its balance and its unmasking EQ. `rendered`
/// holds each track's short-time third-octave frames as it reaches the mix bus (after its
/// strip: fader, pan, EQ, the dips under the drum hits and the words, harmonics, band
/// split), so the masking is judged on what plays rather than on the dry stems the first
/// decisions read. First the faders move by what is heard
/// ([`level::balance_by_audibility`]); then the static unmasking
/// ([`frequency::decide_over`]) searches again from the bells already set, within the same
/// limits, and the faders make up what its new steps take or add. Returns notes for the
/// user on what moved.
pub fn check_unmasking(
    session: &mut Session,
    rendered: &[BandFrames],
    relations: &[Relation],
) -> Vec<String> {
    let mut notes = Vec::new();
    let balance = level::balance_by_audibility(
        &session
            .tracks
            .iter()
            .zip(rendered)
            .map(|(t, frames)| level::BalanceTrack {
                role: t.role,
                frames,
                playing: !t.strip.mute,
            })
            .collect::<Vec<_>>(),
    );
    let moved: Vec<String> = session
        .tracks
        .iter_mut()
        .zip(&balance.moves_db)
        .filter(|(_, m)| **m != 0.0)
        .map(|(t, m)| {
            t.strip.fader_db += m;
            format!("{} {m:+.0} dB", t.name)
        })
        .collect();
    if !moved.is_empty() {
        notes.push(format!(
            "balanced by what is heard in the mix as played: {}; {}",
            moved.join(", "),
            heard_note(balance.after, balance.before, "before")
        ));
    }
    let tracks: Vec<frequency::UnmaskTrack<'_>> = session
        .tracks
        .iter()
        .zip(rendered)
        .zip(&balance.moves_db)
        .enumerate()
        .map(|(i, ((t, frames), &moved))| frequency::UnmaskTrack {
            role: t.role,
            frames,
            // The frames are taken after the fader and the pan, before the balance's move.
            gain_db: (!t.strip.mute).then_some(moved),
            paired: on_one_source(i, t.role, relations),
        })
        .collect();
    let base: Vec<Vec<Bell>> = session.tracks.iter().map(|t| t.strip.eq.clone()).collect();
    let u = frequency::decide_over(&tracks, &base);
    let mut changed = Vec::new();
    for ((t, eq), makeup) in session.tracks.iter_mut().zip(u.eq).zip(u.makeup_db) {
        if eq != t.strip.eq {
            changed.push(t.name.clone());
            t.strip.eq = eq;
            t.strip.fader_db += makeup;
        }
    }
    if !changed.is_empty() {
        notes.push(format!(
            "unmasking EQ, checked on the mix as played: {} refined; {}",
            changed.join(", "),
            heard_note(u.after, u.before, "as played before")
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mics_on_one_source_are_kept_from_the_unmasking_eq() {
        let related = |a: usize, b: usize| Relation {
            a,
            b,
            ..Relation::default()
        };
        // 0 bass DI, 1 bass amp, 2 snare, 3 overheads, 4 guitar.
        let relations = [related(0, 1), related(2, 3)];
        assert!(on_one_source(0, Role::Bass, &relations));
        assert!(on_one_source(1, Role::Bass, &relations));
        assert!(on_one_source(2, Role::Snare, &relations));
        assert!(
            !on_one_source(3, Role::Overhead, &relations),
            "a whole-kit mic"
        );
        assert!(!on_one_source(4, Role::Guitar, &relations), "no relation");
    }
}
