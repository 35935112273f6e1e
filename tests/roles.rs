//! Roles from `mixwright.toml`, from the audio where names say nothing, and the song's
//! tempo in the session.

use std::path::Path;

use crate::cli::{mixwright, song_dir};

fn session_of(dir: &Path, out: &Path) -> (serde_json::Value, String) {
    let session = out.join("s.json");
    let o = mixwright(&[
        "--quiet",
        "mix",
        dir.to_str().unwrap(),
        "-o",
        out.join("m.wav").to_str().unwrap(),
        "--session",
        session.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{stderr}");
    let s = serde_json::from_str(&std::fs::read_to_string(session).unwrap()).unwrap();
    (s, stderr)
}

fn role_of<'a>(s: &'a serde_json::Value, track: &str) -> &'a str {
    s["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == track)
        .unwrap_or_else(|| panic!("no track {track}"))["role"]
        .as_str()
        .unwrap()
}

#[test]
fn toml_overrides_name_and_audio_and_unnamed_stems_are_guessed() {
    let dir = song_dir(15.0);
    let p = dir.path();
    std::fs::rename(p.join("bass.wav"), p.join("Audio 03.wav")).unwrap();
    std::fs::rename(p.join("kick.wav"), p.join("Audio 01.wav")).unwrap();
    let out = tempfile::tempdir().unwrap();

    // No configuration: the unnamed stems are guessed from the audio, with a warning.
    let (s, stderr) = session_of(p, out.path());
    for track in ["Audio 01", "Audio 03"] {
        assert!(
            stderr.contains(&format!(
                "{track}: role not recognisable from the name; guessed"
            )),
            "{stderr}"
        );
    }
    assert_eq!(role_of(&s, "guitar"), "guitar");
    // The test song plays 120 BPM (a beat every 0.5 s).
    let bpm = s["tempo_bpm"].as_f64().expect("a tempo");
    assert!((bpm / 120.0 - 1.0).abs() < 0.02, "{bpm}");

    // The configuration wins over the audio and over the name, and is not "skipped".
    std::fs::write(
        p.join("mixwright.toml"),
        "# roles for this song\n[roles]\n\"Audio 03\" = \"bass\"\n\"Audio 01.wav\" = \"kick\"\nguitar = \"keys\"\n",
    )
    .unwrap();
    let (s, stderr) = session_of(p, out.path());
    assert_eq!(role_of(&s, "Audio 03"), "bass");
    assert_eq!(role_of(&s, "Audio 01"), "kick");
    assert_eq!(role_of(&s, "guitar"), "keys");
    assert!(!stderr.contains("not recognisable"), "{stderr}");
    assert!(!stderr.contains("mixwright.toml"), "{stderr}");
}

#[test]
fn bad_toml_is_exit_2_naming_file_and_key() {
    let dir = song_dir(4.0);
    let out = tempfile::tempdir().unwrap();
    let mix = out.path().join("m.wav");
    for (text, key) in [
        ("[roles]\nbass = \"didgeridoo\"\n", Some("roles.\"bass\"")),
        ("[roles]\nbass = \n", None),
    ] {
        std::fs::write(dir.path().join("mixwright.toml"), text).unwrap();
        let o = mixwright(&[
            "--quiet",
            "mix",
            dir.path().to_str().unwrap(),
            "-o",
            mix.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("mixwright.toml"), "{stderr}");
        if let Some(key) = key {
            assert!(
                stderr.contains(key) && stderr.contains("unknown role"),
                "{stderr}"
            );
        }
        assert!(!mix.exists(), "no mix is written");
    }
}
