//! Words: the lead's level against the mix is decided on what the listener will hear, so
//! damage that the repair removes does not move it.

use std::f64::consts::PI;

use mixwright::session::Session;

use crate::cli::mixwright;
use crate::song;

fn lead_fader(dir: &std::path::Path, out: &std::path::Path) -> f64 {
    let session = out.join("session.json");
    let o = mixwright(&[
        "mix",
        dir.to_str().unwrap(),
        "-o",
        out.join("mix.wav").to_str().unwrap(),
        "--session",
        session.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = Session::load(&session).unwrap();
    let lead = s.tracks.iter().find(|t| t.name == "lead vocal").unwrap();
    lead.strip.fader_db
}

#[test]
fn hum_on_the_accompaniment_does_not_move_the_lead() {
    let rate = 44_100;
    let secs = 20.0;
    let clean = song::make(rate, secs);
    let mut hummed = song::make(rate, secs);
    // Mains hum with harmonics on the guitar, louder than the guitar itself (as on a
    // badly grounded amp): the repair notches it out, so the lead must sit where it sits
    // over the clean guitar.
    let guitar = hummed.iter_mut().find(|s| s.name == "guitar").unwrap();
    for (i, x) in guitar.samples.iter_mut().enumerate() {
        let t = i as f64 / f64::from(rate);
        let hum: f64 = [(1, 0.3), (2, 0.2), (3, 0.15), (4, 0.08), (5, 0.05)]
            .iter()
            .map(|&(k, a)| a * (2.0 * PI * 60.0 * f64::from(k) * t).sin())
            .sum();
        *x += hum as f32;
    }
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    song::write(a.path(), rate, &clean);
    song::write(b.path(), rate, &hummed);
    let out = tempfile::tempdir().unwrap();
    let (oa, ob) = (out.path().join("a"), out.path().join("b"));
    std::fs::create_dir_all(&oa).unwrap();
    std::fs::create_dir_all(&ob).unwrap();
    let fa = lead_fader(a.path(), &oa);
    let fb = lead_fader(b.path(), &ob);
    assert!(
        (fa - fb).abs() <= 0.5,
        "lead fader {fa:.2} dB over the clean guitar, {fb:.2} dB over the humming one"
    );
}
