#!/usr/bin/env python3
"""Role guess from audio and tempo: fit and accuracy on the benchmark corpus.

    scripts/role_accuracy.py [--corpus DIR] [--bin PATH] [--fit] [--no-tempo]

For every song of the corpus (bench/corpus/<song>/stems, truth in reference.json) it runs
`mixwright analyze --json` on the stems (features, role guesses, per-track tempo) and
`mixwright mix --session` (the song's tempo, from the sum of the tracks' onset curves).

Roles: evaluated leave-one-song-out. For each song, the classifier of
src/analysis/role.rs (nearest centroid, features divided by their pooled within-role
standard deviation, posterior confidence) is fitted on the other songs' stems and tested
on this song's: the table is per-role accuracy on held-out songs only. Roles of the
corpus map onto mixwright's (`acoustic_guitar`/`electric_guitar` -> guitar, `piano` ->
keys, `hihat` -> hi_hat, `overheads` -> overhead, `toms` -> tom).

Tempo: per song, the estimate against reference.json's `tempo`, within 2 % and within
2 % allowing an octave error (x2 or /2).

--fit writes src/analysis/role_model.rs from all songs (rebuild mixwright afterwards);
the features come from the binary, so refit whenever role::features changes.
Standard library only (plus the mixwright binary).
"""
import argparse
import json
import math
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROLE_MAP = {
    "acoustic_guitar": "guitar",
    "electric_guitar": "guitar",
    "piano": "keys",
    "hihat": "hi_hat",
    "overheads": "overhead",
    "toms": "tom",
}


def feature_names():
    """FEATURES of src/analysis/role.rs, in the order the model's constants follow."""
    src = (ROOT / "src/analysis/role.rs").read_text()
    body = re.search(r"pub const FEATURES: \[&str; \d+\] = \[(.*?)\];", src, re.S).group(1)
    return re.findall(r'"([^"]+)"', body)


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{out.stderr}")
    return out.stdout


def load_song(binary, song_dir, tempo):
    ref = json.loads((song_dir / "reference.json").read_text())
    stems = sorted((song_dir / "stems").glob("*.wav"))
    files = json.loads(run([binary, "--quiet", "analyze", "--json", *stems]))
    truth = {name: v["role"] for name, v in ref["stems"].items()}
    rows = []
    for f in files:
        name = Path(f["file"]).name
        if f["role_features"] is None:
            continue
        rows.append({
            "song": song_dir.name,
            "stem": name,
            "role": ROLE_MAP.get(truth[name], truth[name]),
            "x": f["role_features"],
            "tempo": f["tempo_bpm"],
            "rust_guess": f["role_guess"],
        })
    song_tempo = None
    if tempo:
        with tempfile.TemporaryDirectory() as tmp:
            session = Path(tmp) / "s.json"
            run([binary, "--quiet", "mix", song_dir / "stems", "-o", Path(tmp) / "m.wav",
                 "--session", session])
            song_tempo = json.loads(session.read_text()).get("tempo_bpm")
    return rows, ref["tempo"], song_tempo


def fit(rows, names):
    by_role = defaultdict(list)
    for r in rows:
        by_role[r["role"]].append([r["x"][k] for k in names])
    centroids = {role: [sum(c) / len(xs) for c in zip(*xs)] for role, xs in by_role.items()}
    n, k = len(rows), len(by_role)
    scale = []
    for j in range(len(names)):
        ss = sum((x[j] - centroids[role][j]) ** 2 for role, xs in by_role.items() for x in xs)
        scale.append(max(math.sqrt(ss / max(n - k, 1)), 1e-6))
    return scale, centroids


def classify(x, scale, centroids):
    """Mirror of role::classify in src/analysis/role.rs."""
    d2 = {role: sum(((a - b) / s) ** 2 for a, b, s in zip(x, c, scale))
          for role, c in centroids.items()}
    best = min(sorted(d2), key=lambda r: d2[r])
    total = sum(math.exp(-(d - d2[best]) / 2) for d in d2.values())
    return best, 1.0 / total


def rust_name(role):
    return "".join(w.capitalize() for w in role.split("_"))


def write_model(path, names, scale, centroids, n_songs, n_stems):
    fmt = lambda v: f"{v:.6}"
    lines = [
        "//! Written by `scripts/role_accuracy.py --fit`; do not edit by hand.",
        f"//! Fitted on {n_stems} stems of {n_songs} songs of the benchmark corpus.",
        "",
        "use super::role::FEATURES;",
        "use crate::engineer::roles::Role;",
        "",
        "/// Pooled within-role standard deviation of each feature, in",
        "/// [`FEATURES`] order: "
        + ", ".join(names) + ".",
        f"pub const SCALE: [f64; FEATURES.len()] = [{', '.join(fmt(s) for s in scale)}];",
        "",
        "/// Mean feature vector of each role in the training corpus.",
        "pub const CENTROIDS: &[(Role, [f64; FEATURES.len()])] = &[",
    ]
    for role in sorted(centroids):
        c = ", ".join(fmt(v) for v in centroids[role])
        lines.append(f"    (Role::{rust_name(role)}, [{c}]),")
    lines.append("];")
    path.write_text("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path("/work/main/bench/corpus"))
    ap.add_argument("--bin", type=Path, default=ROOT / "target/release/mixwright")
    ap.add_argument("--fit", action="store_true", help="write src/analysis/role_model.rs")
    ap.add_argument("--no-tempo", action="store_true", help="skip the song mixes (tempo)")
    args = ap.parse_args()

    songs = sorted(p for p in args.corpus.iterdir() if (p / "reference.json").exists())
    rows, tempos = [], []
    for s in songs:
        r, true_bpm, song_bpm = load_song(args.bin, s, not args.no_tempo)
        rows += r
        tempos.append((s.name, true_bpm, song_bpm, [x["tempo"] for x in r]))
    names = feature_names()
    assert set(names) == set(rows[0]["x"]), "binary and src/analysis/role.rs disagree: rebuild" 

    print(f"# Role guess from audio: leave-one-song-out over {len(songs)} songs, {len(rows)} stems")
    per_role = defaultdict(lambda: [0, 0, 0.0])
    confusion = []
    conf_right, conf_wrong = [], []
    for s in songs:
        train = [r for r in rows if r["song"] != s.name]
        scale, centroids = fit(train, names)
        for r in rows:
            if r["song"] != s.name:
                continue
            pred, conf = classify([r["x"][k] for k in names], scale, centroids)
            pr = per_role[r["role"]]
            pr[1] += 1
            pr[2] += conf
            if pred == r["role"]:
                pr[0] += 1
                conf_right.append(conf)
            else:
                conf_wrong.append(conf)
                confusion.append((s.name, r["stem"], r["role"], pred, conf))
    print("| role | held-out stems | correct | accuracy | mean confidence |")
    print("|---|---|---|---|---|")
    for role in sorted(per_role):
        ok, n, c = per_role[role]
        print(f"| {role} | {n} | {ok} | {100 * ok / n:.0f} % | {c / n:.2f} |")
    ok = sum(v[0] for v in per_role.values())
    print(f"| **all** | {len(rows)} | {ok} | {100 * ok / len(rows):.0f} % | "
          f"{sum(v[2] for v in per_role.values()) / len(rows):.2f} |")
    mean = lambda v: sum(v) / len(v) if v else float("nan")
    print(f"\nmean confidence when right {mean(conf_right):.2f}, when wrong {mean(conf_wrong):.2f}")
    print("\nmistakes (song, stem, truth -> guess, confidence):")
    for m in confusion:
        print(f"  {m[0]}/{m[1]}: {m[2]} -> {m[3]} ({m[4]:.2f})")

    print("\n# Tempo (reference.json `tempo` vs estimate)")
    print("| song | true BPM | song estimate | tracks within 2 % (octave ok) |")
    print("|---|---|---|---|")
    close = lambda est, true: est is not None and abs(est / true - 1) <= 0.02
    octave = lambda est, true: any(close(est, true * m) for m in (0.5, 1, 2)) if est else False
    song_hit = song_oct = 0
    trk_hit = trk_oct = trk_n = 0
    for name, true, est, tracks in tempos:
        song_hit += close(est, true)
        song_oct += octave(est, true)
        th = sum(close(t, true) for t in tracks)
        to = sum(octave(t, true) for t in tracks)
        trk_hit, trk_oct, trk_n = trk_hit + th, trk_oct + to, trk_n + len(tracks)
        est_s = f"{est:.1f}" if est else "none"
        print(f"| {name} | {true} | {est_s} | {th}/{len(tracks)} ({to}/{len(tracks)}) |")
    if not args.no_tempo:
        print(f"\nsongs: {song_hit}/{len(tempos)} within 2 %, "
              f"{song_oct}/{len(tempos)} allowing octave errors")
    print(f"tracks: {trk_hit}/{trk_n} within 2 %, {trk_oct}/{trk_n} allowing octave errors")

    if args.fit:
        scale, centroids = fit(rows, names)
        path = ROOT / "src/analysis/role_model.rs"
        write_model(path, names, scale, centroids, len(songs), len(rows))
        print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
