//! The session: plain data describing everything on the console. The engineer writes it,
//! a person may edit it, the console renders it. No logic here beyond validation.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engineer::roles::Role;
use crate::error::Error;

/// Version of the session file format; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 1;

/// A whole mix: what goes in, how each channel strip is set, and the master.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// File format version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Rate everything is rendered at, in Hz; stems at other rates are resampled to it.
    pub sample_rate: u32,
    /// One channel strip per stem, in input order.
    pub tracks: Vec<Track>,
    /// The master bus.
    pub master: Master,
    /// Tempo of the song in beats per minute, as estimated from the stems (for
    /// tempo-synced delays); `null` when the song has no clear pulse.
    #[serde(default)]
    pub tempo_bpm: Option<f64>,
    /// Low-end mono: below this frequency, Hz, every strip's output plays from both
    /// speakers alike (its side is high-passed, 48 dB/octave, −3 dB here, so it is 16 dB
    /// down at 0.8× and 28 dB down at 2/3 of it); `null` keeps the low end as panned.
    #[serde(default)]
    pub mono_below_hz: Option<f64>,
}

/// One stem on its channel strip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Track {
    /// Unique name (the stem's file name without extension); names `--stems-out` files.
    pub name: String,
    /// The stem file. Relative paths are taken relative to the session file's folder.
    pub source: PathBuf,
    /// The part this track plays in the arrangement.
    pub role: Role,
    /// Channel strip settings.
    pub strip: Strip,
}

/// A channel strip, in signal order: polarity, trim, fader, pan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Strip {
    /// Invert the polarity (multiply by −1).
    pub polarity_inverted: bool,
    /// Input trim in dB, before the fader.
    pub trim_db: f64,
    /// Fader in dB.
    pub fader_db: f64,
    /// Position, −1 (hard left) … +1 (hard right). Mono sources use a constant-power law;
    /// stereo sources a balance control.
    pub pan: f64,
    /// Stereo width of a stereo source: 0 = mono, 1 = as recorded, up to 2.
    pub width: f64,
    /// Silence the track.
    pub mute: bool,
    /// Repairs run first on the strip, before trim and fader; absent when all are off.
    #[serde(default, skip_serializing_if = "Repair::is_off")]
    pub repair: Repair,
    /// Harmonics added to a low instrument so it stays heard at quiet playback (after the
    /// repairs); absent when off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bass_harmonics: Option<BassHarmonics>,
    /// Band split with another track on the same source (after the repairs, before the
    /// harmonics): this track keeps one side of a Linkwitz–Riley crossover, the partner
    /// the other, so each mic carries the range it captures best. Absent when not split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crossover: Option<Crossover>,
    /// Static EQ, after the repairs and before the dynamic EQ: broad cuts where this track
    /// masks others that would otherwise go unheard. Absent when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eq: Vec<Bell>,
    /// Keyed dynamic EQ, after the repairs: bells whose gain moves over time (cuts of the
    /// bands where this track masks the lead while the lead sings). Absent when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dynamic_eq: Vec<DynamicBell>,
    /// Fader automation (the vocal rider): gain added to the fader over time. Between points
    /// the console moves it linearly in dB, sample by sample; before the first point and
    /// after the last it holds their gain. Absent when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub automation: Vec<GainPoint>,
}

/// One side of a band split between two tracks on one source (DI and amp, kick in and
/// sub): a 4th-order Linkwitz–Riley low- or high-pass ([`crate::dsp::crossover`]). The
/// partner's strip holds the other side at the same frequency, so on what both captured
/// the two sum to the whole instrument, in phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Crossover {
    /// Crossover frequency, Hz (−6 dB on each side).
    pub freq_hz: f64,
    /// The side this track keeps.
    pub side: crate::dsp::crossover::Side,
    /// The track holding the other side.
    pub partner: String,
}

/// One point of an automation curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GainPoint {
    /// Time from the start of the song, seconds.
    pub time_s: f64,
    /// Gain at that time, dB.
    pub gain_db: f64,
}

/// A bell of the static EQ: the standard peaking filter, as
/// [`crate::dsp::automation::AutomatedBell`] plays it at a constant gain.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bell {
    /// Centre frequency, Hz.
    pub freq_hz: f64,
    /// Quality factor (centre over bandwidth).
    pub q: f64,
    /// Gain at the centre, dB (negative: a cut).
    pub gain_db: f64,
}

/// A bell of the dynamic EQ: a fixed centre and Q, an automated gain (see
/// [`crate::dsp::automation::AutomatedBell`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DynamicBell {
    /// Centre frequency, Hz.
    pub freq_hz: f64,
    /// Quality factor (centre over bandwidth).
    pub q: f64,
    /// Gain over time, as for fader automation; 0 dB where the bell rests.
    pub points: Vec<GainPoint>,
}

/// Harmonic bass enhancement: a parallel saturation of the fundamentals whose upper
/// harmonics, kept between `low_hz` and `high_hz`, carry the pitch and punch of a kick or
/// bass where a quiet playback level loses the fundamentals themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BassHarmonics {
    /// Level of the added octave relative to the fundamental it comes from, dB.
    pub amount_db: f64,
    /// Harmonics are kept above this, Hz (nothing is added to the fundamentals' region);
    /// fundamentals up to 1.5 × this feed the generator.
    pub low_hz: f64,
    /// Harmonics are kept below this, Hz.
    pub high_hz: f64,
}

/// What the repair stage does to a track, in signal order: declip, DC and rumble
/// high-pass, declick, hum cancelling, noise reduction, gate, time shift. Every part is off
/// by default; each one is switched on only for a problem the analysis found, and may be
/// switched off (removed) or tuned by hand.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Repair {
    /// Rebuild runs of samples at the rails (±`rail`, linear full scale).
    pub declip: Option<DeclipRepair>,
    /// Remove a DC offset (a 5 Hz high-pass, 2nd order).
    pub dc: bool,
    /// High-pass against rumble at this frequency, Hz (2nd-order Butterworth).
    pub highpass_hz: Option<f64>,
    /// Find and rebuild clicks.
    pub declick: Option<DeclickRepair>,
    /// Cancel mains hum (its lines tracked and subtracted).
    pub hum: Option<HumRepair>,
    /// Reduce broadband noise.
    pub denoise: Option<DenoiseRepair>,
    /// Gate bleed between the track's own hits.
    pub gate: Option<GateRepair>,
    /// Time shift in samples at the session rate (fractions allowed): negative moves the
    /// track earlier, to line a later mic up with its partner.
    pub delay_samples: f64,
}

impl Repair {
    /// True when nothing is switched on.
    pub fn is_off(&self) -> bool {
        *self == Repair::default()
    }
}

/// Declipper settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeclipRepair {
    /// The level the recording was clipped at, linear full scale.
    pub rail: f64,
    /// How clipped runs are rebuilt: `"spade"` (sparse spectrum, the default when absent),
    /// `"ar"` (autoregressive interpolation held beyond the rail: better on noise-like
    /// material, a snare, a kick's click), `"auto"` (each frame by the model its
    /// spectrum fits; what the engineer picks) or `"corner"` (only runs at a straight
    /// ramp's corner, as on a sawtooth, any length; the engineer's pick where runs are too
    /// long for the others).
    #[serde(default)]
    pub method: crate::dsp::declip::DeclipMethod,
    /// S-SPADE's frame length, ms (rounded up to a power of two of samples); absent: 46 ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_ms: Option<f64>,
}

/// Declicker settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeclickRepair {
    /// Detection threshold in robust standard deviations of the prediction error (lower
    /// finds more; 10 is the default).
    pub threshold: f64,
}

/// Hum remover settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HumRepair {
    /// Mains frequency, Hz.
    pub mains_hz: f64,
    /// Lines cancelled at 1…`harmonics` × the mains frequency.
    pub harmonics: usize,
}

/// Noise reducer settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenoiseRepair {
    /// Most the noise is lowered by, dB.
    pub reduction_db: f64,
    /// Passages of noise alone the noise profile is learned from, `[start, end]` in s.
    pub profile_s: Vec<[f64; 2]>,
}

/// Gate settings (see the console's gate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateRepair {
    /// Opens above this peak level, dBFS.
    pub threshold_db: f64,
    /// Closes this far below the threshold, dB.
    pub hysteresis_db: f64,
    /// Attenuation when closed, dB.
    pub range_db: f64,
    /// Opening time, ms (the look-ahead is twice this).
    pub attack_ms: f64,
    /// Held open this long after the level falls, ms.
    pub hold_ms: f64,
    /// Closing time constant, ms.
    pub release_ms: f64,
}

impl Default for Strip {
    fn default() -> Self {
        Strip {
            polarity_inverted: false,
            trim_db: 0.0,
            fader_db: 0.0,
            pan: 0.0,
            width: 1.0,
            mute: false,
            repair: Repair::default(),
            bass_harmonics: None,
            crossover: None,
            eq: Vec::new(),
            dynamic_eq: Vec::new(),
            automation: Vec::new(),
        }
    }
}

/// The master bus: where the mix must land.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Master {
    /// Integrated loudness of the delivered mix, LUFS.
    pub target_lufs: f64,
    /// True-peak ceiling of the delivered mix, dBTP.
    pub ceiling_dbtp: f64,
}

impl Session {
    /// Reads and validates a session file.
    pub fn load(path: &Path) -> Result<Session, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parses and validates the text of a session file; `path` names it in errors and is
    /// where relative stem paths are taken from.
    pub fn parse(text: &str, path: &Path) -> Result<Session, Error> {
        let bad = |detail: String| Error::Session {
            path: path.to_path_buf(),
            detail,
        };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        match value.get("format_version").and_then(|v| v.as_u64()) {
            Some(v) if v == FORMAT_VERSION as u64 => {}
            Some(v) => {
                return Err(bad(format!(
                    "format version {v} is not supported (this mixwright reads version {FORMAT_VERSION})"
                )));
            }
            None => return Err(bad("no format_version field".into())),
        }
        let mut session: Session =
            serde_json::from_value(value).map_err(|e| bad(format!("{e}")))?;
        session.validate().map_err(bad)?;
        let base = path.parent().unwrap_or(Path::new("."));
        for t in &mut session.tracks {
            if t.source.is_relative() {
                t.source = base.join(&t.source);
            }
        }
        Ok(session)
    }

    /// Writes the session as pretty JSON, atomically, never over one of `protected`.
    pub fn save(&self, path: &Path, protected: &[PathBuf]) -> Result<(), Error> {
        let text = serde_json::to_string_pretty(self).expect("session serialises");
        crate::io::write::write_bytes_atomic(path, text.as_bytes(), protected)?;
        Ok(())
    }

    /// Checks ranges and consistency; the message names the offending field.
    pub fn validate(&self) -> Result<(), String> {
        if !(8_000..=192_000).contains(&self.sample_rate) {
            return Err(format!(
                "sample_rate {} is outside 8000..=192000",
                self.sample_rate
            ));
        }
        if self.tracks.is_empty() {
            return Err("no tracks".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for t in &self.tracks {
            if !names.insert(t.name.as_str()) {
                return Err(format!("track name {:?} is used twice", t.name));
            }
            let s = &t.strip;
            let r = &s.repair;
            let nyquist = 0.45 * self.sample_rate as f64;
            let mut checks = vec![
                ("trim_db", s.trim_db, -96.0, 48.0),
                ("fader_db", s.fader_db, -144.0, 48.0),
                ("pan", s.pan, -1.0, 1.0),
                ("width", s.width, 0.0, 2.0),
                (
                    "repair.delay_samples",
                    r.delay_samples,
                    -(self.sample_rate as f64),
                    self.sample_rate as f64,
                ),
            ];
            if let Some(d) = &r.declip {
                checks.push(("repair.declip.rail", d.rail, 1e-3, 16.0));
                if let Some(f) = d.frame_ms {
                    checks.push(("repair.declip.frame_ms", f, 5.0, 1000.0));
                }
            }
            if let Some(f) = r.highpass_hz {
                checks.push(("repair.highpass_hz", f, 5.0, 1000.0f64.min(nyquist)));
            }
            if let Some(d) = &r.declick {
                checks.push(("repair.declick.threshold", d.threshold, 2.0, 100.0));
            }
            if let Some(h) = &r.hum {
                checks.push(("repair.hum.mains_hz", h.mains_hz, 40.0, 70.0));
                checks.push(("repair.hum.harmonics", h.harmonics as f64, 1.0, 200.0));
            }
            if let Some(d) = &r.denoise {
                checks.push(("repair.denoise.reduction_db", d.reduction_db, 0.0, 40.0));
                for [a, b] in &d.profile_s {
                    checks.push(("repair.denoise.profile_s start", *a, 0.0, *b));
                }
            }
            if let Some(h) = &s.bass_harmonics {
                checks.extend([
                    ("bass_harmonics.amount_db", h.amount_db, -40.0, 0.0),
                    ("bass_harmonics.low_hz", h.low_hz, 40.0, 300.0),
                    (
                        "bass_harmonics.high_hz",
                        h.high_hz,
                        1.5 * h.low_hz,
                        2000.0f64.min(nyquist),
                    ),
                ]);
            }
            if let Some(g) = &r.gate {
                checks.extend([
                    ("repair.gate.threshold_db", g.threshold_db, -96.0, 0.0),
                    ("repair.gate.hysteresis_db", g.hysteresis_db, 0.0, 40.0),
                    ("repair.gate.range_db", g.range_db, 0.0, 96.0),
                    ("repair.gate.attack_ms", g.attack_ms, 0.0, 50.0),
                    ("repair.gate.hold_ms", g.hold_ms, 0.0, 2000.0),
                    ("repair.gate.release_ms", g.release_ms, 1.0, 5000.0),
                ]);
            }
            if let Some(x) = &s.crossover {
                checks.push((
                    "crossover.freq_hz",
                    x.freq_hz,
                    20.0,
                    20_000.0f64.min(nyquist),
                ));
                let partner = self.tracks.iter().find(|p| p.name == x.partner);
                let other = partner.and_then(|p| p.strip.crossover.as_ref());
                if !other.is_some_and(|o| {
                    o.partner == t.name && o.side != x.side && o.freq_hz == x.freq_hz
                }) {
                    return Err(format!(
                        "track {:?}: crossover partner {:?} must hold the other side at {} Hz",
                        t.name, x.partner, x.freq_hz
                    ));
                }
            }
            for b in &s.eq {
                checks.extend([
                    ("eq.freq_hz", b.freq_hz, 20.0, 20_000.0f64.min(nyquist)),
                    ("eq.q", b.q, 0.1, 20.0),
                    ("eq.gain_db", b.gain_db, -24.0, 12.0),
                ]);
            }
            for b in &s.dynamic_eq {
                checks.push((
                    "dynamic_eq.freq_hz",
                    b.freq_hz,
                    20.0,
                    20_000.0f64.min(nyquist),
                ));
                checks.push(("dynamic_eq.q", b.q, 0.1, 20.0));
            }
            let curves = std::iter::once(("automation", &s.automation)).chain(
                s.dynamic_eq
                    .iter()
                    .map(|b| ("dynamic_eq.points", &b.points)),
            );
            for (field, points) in curves {
                let mut last = 0.0;
                for (k, p) in points.iter().enumerate() {
                    if !(p.time_s >= last && p.time_s.is_finite()) {
                        return Err(format!(
                            "track {:?}: {field} point {k} at {} s is not in time order from 0 s",
                            t.name, p.time_s
                        ));
                    }
                    checks.push((field, p.gain_db, -48.0, 24.0));
                    last = p.time_s;
                }
            }
            for (field, v, lo, hi) in checks {
                if !(lo..=hi).contains(&v) {
                    return Err(format!(
                        "track {:?}: {field} = {v} is outside {lo}..={hi}",
                        t.name
                    ));
                }
            }
        }
        if let Some(bpm) = self.tempo_bpm
            && !(20.0..=400.0).contains(&bpm)
        {
            return Err(format!("tempo_bpm {bpm} is outside 20..=400"));
        }
        if let Some(f) = self.mono_below_hz
            && !(20.0..=500.0f64.min(0.45 * self.sample_rate as f64)).contains(&f)
        {
            return Err(format!("mono_below_hz {f} is outside 20..=500"));
        }
        let m = &self.master;
        if !(-70.0..=0.0).contains(&m.target_lufs) {
            return Err(format!(
                "master target_lufs {} is outside -70..=0",
                m.target_lufs
            ));
        }
        if !(-20.0..=0.0).contains(&m.ceiling_dbtp) {
            return Err(format!(
                "master ceiling_dbtp {} is outside -20..=0",
                m.ceiling_dbtp
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        let point = |time_s, gain_db| GainPoint { time_s, gain_db };
        Session {
            format_version: FORMAT_VERSION,
            sample_rate: 44_100,
            tracks: vec![Track {
                name: "guitar".into(),
                source: "/stems/guitar.wav".into(),
                role: Role::Guitar,
                strip: Strip {
                    eq: vec![Bell {
                        freq_hz: 250.0,
                        q: 1.0,
                        gain_db: -4.0,
                    }],
                    dynamic_eq: vec![DynamicBell {
                        freq_hz: 2000.0,
                        q: 1.4,
                        points: vec![point(0.2, 0.0), point(0.6, -4.5), point(1.0, 0.0)],
                    }],
                    automation: vec![point(0.2, 1.5), point(0.6, -0.3)],
                    ..Strip::default()
                },
            }],
            master: Master {
                target_lufs: -14.0,
                ceiling_dbtp: -1.0,
            },
            tempo_bpm: None,
            mono_below_hz: None,
        }
    }

    #[test]
    fn automation_reads_back_exactly_and_older_sessions_load() {
        let s = session();
        let text = serde_json::to_string_pretty(&s).unwrap();
        assert!(text.contains("\"dynamic_eq\"") && text.contains("\"freq_hz\": 2000.0"));
        assert_eq!(Session::parse(&text, Path::new("/s.json")).unwrap(), s);
        // A session written before automation existed: none, same as before.
        let mut old: serde_json::Value = serde_json::from_str(&text).unwrap();
        let strip = old["tracks"][0]["strip"].as_object_mut().unwrap();
        strip.remove("eq");
        strip.remove("dynamic_eq");
        strip.remove("automation");
        let old = Session::parse(&old.to_string(), Path::new("/s.json")).unwrap();
        assert!(old.tracks[0].strip.automation.is_empty());
        assert!(old.tracks[0].strip.dynamic_eq.is_empty());
        assert!(old.tracks[0].strip.eq.is_empty());
    }

    #[test]
    fn automation_out_of_order_or_out_of_range_is_refused_by_name() {
        let mut s = session();
        s.tracks[0].strip.automation.swap(0, 1);
        let e = s.validate().unwrap_err();
        assert!(e.contains("automation point 1 at 0.2 s"), "{e}");
        let mut s = session();
        s.tracks[0].strip.dynamic_eq[0].points[1].gain_db = -60.0;
        let e = s.validate().unwrap_err();
        assert!(e.contains("dynamic_eq.points = -60"), "{e}");
        let mut s = session();
        s.tracks[0].strip.dynamic_eq[0].freq_hz = 21_000.0;
        assert!(s.validate().unwrap_err().contains("dynamic_eq.freq_hz"));
        let mut s = session();
        s.tracks[0].strip.eq[0].gain_db = -30.0;
        assert!(s.validate().unwrap_err().contains("eq.gain_db = -30"));
    }

    #[test]
    fn a_split_pair_reads_back_and_a_lone_side_is_refused() {
        use crate::dsp::crossover::Side;
        let mut s = session();
        let mut amp = s.tracks[0].clone();
        amp.name = "bass_amp".into();
        s.tracks[0].name = "bass_di".into();
        s.tracks.push(amp);
        let side = |side, partner: &str| {
            Some(Crossover {
                freq_hz: 125.0,
                side,
                partner: partner.into(),
            })
        };
        s.tracks[0].strip.crossover = side(Side::Low, "bass_amp");
        s.tracks[1].strip.crossover = side(Side::High, "bass_di");
        let text = serde_json::to_string_pretty(&s).unwrap();
        assert!(text.contains("\"side\": \"low\"") && text.contains("\"partner\": \"bass_amp\""));
        assert_eq!(Session::parse(&text, Path::new("/s.json")).unwrap(), s);
        // Without the partner's other side the split would not sum flat: refused.
        let mut lone = s.clone();
        lone.tracks[1].strip.crossover = side(Side::Low, "bass_di");
        let e = lone.validate().unwrap_err();
        assert!(e.contains("crossover partner \"bass_amp\""), "{e}");
        lone.tracks[1].strip.crossover = None;
        assert!(lone.validate().is_err());
    }
}
