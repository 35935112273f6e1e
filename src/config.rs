//! The user's word on a song: `mixwright.toml` beside the stems. It overrides what the
//! engineer would guess.
//!
//! ```toml
//! [roles]
//! "Audio 03" = "bass"        # a track name (file name without extension)
//! "gtr take 2.wav" = "guitar" # or the file name
//! ```
//!
//! Role values are the session's role names (`lead_vocal`, `hi_hat`, `bass`, …); a value
//! that is not one is read as a name would be (`"vocals"` → `lead_vocal`, `"hihat"` →
//! `hi_hat`). Anything mixwright cannot read is an error naming the file and the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IntoDeserializer;

use crate::engineer::roles::{self, Role};
use crate::error::Error;

/// Name of the configuration file looked for in each folder holding stems.
pub const FILE_NAME: &str = "mixwright.toml";

/// What the configuration files of a song say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// Role per track, keyed by track name or file name, with the file that said so.
    pub roles: BTreeMap<String, (Role, PathBuf)>,
}

impl Config {
    /// Reads one configuration file.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let bad = |key: Option<String>, detail: String| Error::Config {
            path: path.to_path_buf(),
            key,
            detail,
        };
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| bad(None, format!("not valid TOML: {}", e.message())))?;
        let mut config = Config::default();
        for (section, value) in table {
            if section != "roles" {
                return Err(bad(
                    Some(section),
                    "unknown section (mixwright.toml knows [roles])".into(),
                ));
            }
            let toml::Value::Table(entries) = value else {
                return Err(bad(Some(section), "expected a table: [roles]".into()));
            };
            for (track, value) in entries {
                let key = Some(format!("roles.{track:?}"));
                let toml::Value::String(name) = value else {
                    return Err(bad(
                        key,
                        format!("expected a role name in quotes, got {}", value.type_str()),
                    ));
                };
                let role = parse_role(&name).ok_or_else(|| {
                    bad(
                        key,
                        format!(
                            "unknown role {name:?} (roles: {})",
                            Role::ALL
                                .iter()
                                .map(|r| r.name())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?;
                config.roles.insert(track, (role, path.to_path_buf()));
            }
        }
        Ok(config)
    }

    /// Reads the [`FILE_NAME`] of every folder in `folders` that has one (later folders
    /// win on the same key).
    pub fn find<'a>(folders: impl IntoIterator<Item = &'a Path>) -> Result<Config, Error> {
        let mut config = Config::default();
        let mut seen = std::collections::BTreeSet::new();
        for folder in folders {
            let path = folder.join(FILE_NAME);
            if seen.insert(path.clone()) && path.is_file() {
                config.roles.extend(Config::load(&path)?.roles);
            }
        }
        Ok(config)
    }

    /// The role set for a track, by its name or its source's file name.
    pub fn role(&self, track: &str, source: &Path) -> Option<Role> {
        let file = source.file_name().and_then(|f| f.to_str());
        self.roles
            .get(track)
            .or_else(|| file.and_then(|f| self.roles.get(f)))
            .map(|(r, _)| *r)
    }

    /// Notes for keys that name none of the given tracks (a typo, a renamed stem).
    pub fn unmatched(&self, tracks: &[(&str, &Path)]) -> Vec<String> {
        self.roles
            .iter()
            .filter(|(key, _)| {
                !tracks.iter().any(|(name, source)| {
                    name == key || source.file_name().and_then(|f| f.to_str()) == Some(key)
                })
            })
            .map(|(key, (_, path))| {
                format!("{}: roles.{key:?} names no stem; ignored", path.display())
            })
            .collect()
    }
}

/// A role from its session name (`"hi_hat"`), or failing that from a descriptive name
/// (`"hihat"`, `"vocals"`).
fn parse_role(name: &str) -> Option<Role> {
    let exact: Result<Role, serde::de::value::Error> =
        Role::deserialize(name.trim().to_lowercase().as_str().into_deserializer());
    exact.ok().or_else(|| roles::guess_from_name(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join(FILE_NAME);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn roles_by_track_or_file_name() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "[roles]\n\"Audio 03\" = \"bass\"\n\"take2.wav\" = \"hihat\"\n\"x\" = \"Lead Vocal\"\n",
        );
        let c = Config::find([dir.path()]).unwrap();
        assert_eq!(
            c.role("Audio 03", Path::new("/a/Audio 03.wav")),
            Some(Role::Bass)
        );
        assert_eq!(
            c.role("take2", Path::new("/a/take2.wav")),
            Some(Role::HiHat)
        );
        assert_eq!(c.role("x", Path::new("/a/x.flac")), Some(Role::LeadVocal));
        assert_eq!(c.role("Audio 04", Path::new("/a/Audio 04.wav")), None);
        let notes = c.unmatched(&[("Audio 03", Path::new("/a/Audio 03.wav"))]);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("names no stem"));
    }

    #[test]
    fn no_file_is_no_override() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Config::find([dir.path()]).unwrap(), Config::default());
    }

    #[test]
    fn bad_files_name_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "[roles]\n\"Audio 03\" = \"didgeridoo\"\n",
                Some("roles.\"Audio 03\""),
                "unknown role",
            ),
            (
                "[roles]\n\"Audio 03\" = 3\n",
                Some("roles.\"Audio 03\""),
                "expected a role name",
            ),
            ("[roles\n", None, "not valid TOML"),
            ("[levels]\nkick = 1\n", Some("levels"), "unknown section"),
            ("roles = \"bass\"\n", Some("roles"), "expected a table"),
        ];
        for (text, key, what) in cases {
            let path = write(dir.path(), text);
            let e = Config::find([dir.path()]).unwrap_err();
            let msg = e.to_string();
            assert!(msg.starts_with(&path.display().to_string()), "{msg}");
            assert!(msg.contains(what), "{msg}");
            match e {
                Error::Config { key: k, .. } => assert_eq!(k.as_deref(), key, "{msg}"),
                other => panic!("{other:?}"),
            }
        }
    }
}
