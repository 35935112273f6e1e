//! What each track plays. Roles drive levels, pan, EQ and sends.

use serde::{Deserialize, Serialize};

use crate::analysis::role::RoleGuess;

/// The part a track plays in the arrangement, as a mix engineer would label it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The main sung (or spoken) line: the most important element.
    LeadVocal,
    /// Harmonies, doubles, choir.
    BackingVocal,
    /// Kick drum (in, out, sub).
    Kick,
    /// Snare drum (top, bottom).
    Snare,
    /// Hi-hat.
    HiHat,
    /// Toms.
    Tom,
    /// Overheads and cymbals.
    Overhead,
    /// Room and ambience mics.
    Room,
    /// Hand percussion, claps, shakers.
    Percussion,
    /// Bass guitar, synth bass.
    Bass,
    /// Electric or acoustic guitar.
    Guitar,
    /// Piano, organ, electric piano.
    Keys,
    /// Synth leads, arps, plucks.
    Synth,
    /// Sustained pads.
    Pad,
    /// Bowed strings.
    Strings,
    /// Horns, brass, saxophone.
    Brass,
    /// Effects, risers, noises.
    Fx,
    /// Anything else.
    Other,
}

/// Keywords per role. Short codes match whole words only; long words match inside words.
/// Order matters: "kick" before "bass" (bass drum), backing vocals before vocals, piano
/// before "acoustic" guitar.
const RULES: &[(Role, &[&str], &[&str])] = &[
    (Role::Kick, &["kick", "kik", "bassdrum"], &["bd", "kd"]),
    (Role::Snare, &["snare", "snr"], &["sn", "sd"]),
    (Role::HiHat, &["hihat", "hat"], &["hh"]),
    (
        Role::Tom,
        &["floortom", "racktom"],
        &["tom", "toms", "floor"],
    ),
    (
        Role::Overhead,
        &["overhead", "cymbal", "crash"],
        &["oh", "ohs", "ride"],
    ),
    (Role::Room, &["room", "ambience"], &["amb"]),
    (
        Role::Percussion,
        &[
            "perc", "shaker", "tamb", "conga", "bongo", "clap", "cowbell",
        ],
        &[],
    ),
    (
        Role::BackingVocal,
        &["backing", "harmony", "harmonies", "choir", "bgv", "backvoc"],
        &["bv", "bvs", "bg", "bkg", "dbl"],
    ),
    (
        Role::LeadVocal,
        &["vocal", "vox", "voice", "singer"],
        &["vo", "voc", "sing"],
    ),
    (Role::Bass, &["bass"], &["bs", "sub"]),
    (
        Role::Keys,
        &[
            "piano", "keys", "rhodes", "organ", "wurli", "epiano", "clav",
        ],
        &["pno", "ep", "key"],
    ),
    (
        Role::Guitar,
        &["guitar", "gtr", "acoustic", "strat", "tele"],
        &["ag", "eg", "git"],
    ),
    (Role::Synth, &["synth", "arp", "pluck"], &["syn"]),
    (Role::Pad, &["pad", "drone"], &[]),
    (
        Role::Strings,
        &["string", "violin", "viola", "cello", "orch"],
        &["str", "vln", "vc"],
    ),
    (
        Role::Brass,
        &["brass", "horn", "trumpet", "trombone", "sax", "tuba"],
        &["tpt", "tbn"],
    ),
    (Role::Fx, &["sfx", "riser", "sweep", "impact"], &["fx"]),
    // Generic words last: "Synth Lead" is a synth, a bare "Lead" is the vocal.
    (Role::LeadVocal, &[], &["lead", "main"]),
];

/// Splits a file name into lower-case words at non-letters and lower→upper case changes.
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphabetic() {
            prev_lower = false;
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Guesses a role from a stem's name (`"Kick In 01"`, `"gtrL"`, `"BV_harmony"`).
/// Returns `None` when the name says nothing (`"Audio 03"`).
pub fn guess_from_name(name: &str) -> Option<Role> {
    let words = words(name);
    let joined = words.concat();
    for (role, long, short) in RULES {
        let long_hit = long
            .iter()
            .any(|k| words.iter().any(|w| w.contains(k)) || joined.contains(k));
        let short_hit = short.iter().any(|k| words.iter().any(|w| w == k));
        if long_hit || short_hit {
            return Some(*role);
        }
    }
    None
}

/// Where a track's role came from, and the note the user should read about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// The role the track is mixed as.
    pub role: Role,
    /// A warning when the role is a guess from the audio or unknown.
    pub note: Option<String>,
}

/// Decides a track's role: the user's `mixwright.toml` first, then the name, then the
/// audio (with a note giving its confidence), else [`Role::Other`].
pub fn assign(name: &str, configured: Option<Role>, audio: Option<RoleGuess>) -> Assignment {
    if let Some(role) = configured.or_else(|| guess_from_name(name)) {
        return Assignment { role, note: None };
    }
    match audio {
        Some(g) => Assignment {
            role: g.role,
            note: Some(format!(
                "{name}: role not recognisable from the name; guessed '{}' from the audio \
                 (confidence {:.0} %); set it in {} if wrong",
                g.role.name(),
                100.0 * g.confidence,
                crate::config::FILE_NAME,
            )),
        },
        None => Assignment {
            role: Role::Other,
            note: Some(format!(
                "{name}: role not recognisable from the name or the audio; mixed as 'other'"
            )),
        },
    }
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Role; 18] = [
        Role::LeadVocal,
        Role::BackingVocal,
        Role::Kick,
        Role::Snare,
        Role::HiHat,
        Role::Tom,
        Role::Overhead,
        Role::Room,
        Role::Percussion,
        Role::Bass,
        Role::Guitar,
        Role::Keys,
        Role::Synth,
        Role::Pad,
        Role::Strings,
        Role::Brass,
        Role::Fx,
        Role::Other,
    ];

    /// The role's name as written in sessions and `mixwright.toml` (`"hi_hat"`).
    pub fn name(self) -> &'static str {
        match self {
            Role::LeadVocal => "lead_vocal",
            Role::BackingVocal => "backing_vocal",
            Role::Kick => "kick",
            Role::Snare => "snare",
            Role::HiHat => "hi_hat",
            Role::Tom => "tom",
            Role::Overhead => "overhead",
            Role::Room => "room",
            Role::Percussion => "percussion",
            Role::Bass => "bass",
            Role::Guitar => "guitar",
            Role::Keys => "keys",
            Role::Synth => "synth",
            Role::Pad => "pad",
            Role::Strings => "strings",
            Role::Brass => "brass",
            Role::Fx => "fx",
            Role::Other => "other",
        }
    }

    /// Mics that capture a whole kit or a room, not one source: a close mic related to them
    /// shares only its own drum with them, so neither is split against the other, and a
    /// bell on them does not turn the phase of one instrument against its other mic.
    pub fn is_whole_kit(self) -> bool {
        matches!(self, Role::Overhead | Role::Room)
    }

    /// Roles that stay in the centre of the stereo image: the low end and the focus.
    pub fn is_centred(self) -> bool {
        matches!(
            self,
            Role::Kick | Role::Snare | Role::Bass | Role::LeadVocal
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_roles() {
        let cases = [
            ("Kick In 01", Some(Role::Kick)),
            ("kick_out", Some(Role::Kick)),
            ("BassDrum", Some(Role::Kick)),
            ("Snare Top", Some(Role::Snare)),
            ("SN_bottom", Some(Role::Snare)),
            ("HH", Some(Role::HiHat)),
            ("OH L", Some(Role::Overhead)),
            ("Tom 2", Some(Role::Tom)),
            ("bass DI", Some(Role::Bass)),
            ("Lead Vocal", Some(Role::LeadVocal)),
            ("vox", Some(Role::LeadVocal)),
            ("BV harmony 2", Some(Role::BackingVocal)),
            ("gtrL", Some(Role::Guitar)),
            ("Acoustic Gtr", Some(Role::Guitar)),
            ("Piano", Some(Role::Keys)),
            ("Synth Arp", Some(Role::Synth)),
            ("warm pad", Some(Role::Pad)),
            ("Strings", Some(Role::Strings)),
            ("Horns", Some(Role::Brass)),
            ("Synth Lead", Some(Role::Synth)),
            ("Lead", Some(Role::LeadVocal)),
            ("Acoustic Piano", Some(Role::Keys)),
            ("riser rising", Some(Role::Fx)),
            ("digital noise", None),
            ("Audio 03", None),
            ("track7", None),
        ];
        for (name, want) in cases {
            assert_eq!(guess_from_name(name), want, "{name}");
        }
    }

    #[test]
    fn names_match_the_session_format() {
        for r in Role::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.name());
        }
    }

    #[test]
    fn config_beats_name_beats_audio() {
        let audio = Some(RoleGuess {
            role: Role::Bass,
            confidence: 0.8,
        });
        let a = assign("Kick In", Some(Role::Tom), audio);
        assert_eq!((a.role, a.note), (Role::Tom, None));
        let a = assign("Kick In", None, audio);
        assert_eq!((a.role, a.note), (Role::Kick, None));
        let a = assign("Audio 03", None, audio);
        assert_eq!(a.role, Role::Bass);
        let note = a.note.unwrap();
        assert!(note.contains("'bass'") && note.contains("80 %"), "{note}");
        let a = assign("Audio 03", None, None);
        assert_eq!(a.role, Role::Other);
        assert!(a.note.unwrap().contains("'other'"));
    }
}
