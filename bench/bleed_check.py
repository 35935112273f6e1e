#!/usr/bin/env python3
"""Bleed check: bleed planted into the corpus's close drum mics, removed by ``mixwright
repair`` alone (its bleed analysis and gate), against the clean stems.

For every close drum mic of the corpus (a stem named kick…, snare…, tom…):

* **planted**: the other drums of the song (snare and hi-hat into a kick, kick and hi-hat
  into a snare, kick and snare into toms; a clap stands in for the snare where there is
  none) summed, low-passed at 6 kHz (2nd order: a mic off its axis), delayed 1–3 ms (the
  path to the mic) and set ``--levels`` dB under the stem (peak against peak), added to
  the clean stem; the file keeps the stem's name, so ``repair`` takes its role from it;
* **(a) bleed reduction**: in the 10 ms frames where the clean stem is silent (at least
  20 dB under the bleed in that frame: between the hits), the energy of the planted file
  over that of the repaired one, dB (what the repair took off the bleed there);
* **(b) hits**: in the frames where the clean stem is within 20 dB of its loudest frame,
  the repaired file's energy against the clean stem's, dB, beside the same for the planted
  file (what the bleed adds there): the gate should leave the hits as they were;
* **(c) false positives**: ``repair`` on every clean close drum stem (which holds no
  bleed: the corpus renders each drum alone) must not gate it.

Usage: ``bench/.venv/bin/python bench/bleed_check.py [--bin target/release/mixwright]
[--songs a,b] [--levels 15,20,25] [--out DIR] [--json results.json]``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from repair_check import CORPUS, db, read  # noqa: E402

sys.path.insert(0, "/work/main/bench")
import audio  # noqa: E402

#: Close drum mics, by the start of their stem name, and the drums that bleed into each.
BLEED_FROM = {
    "kick": ("snare", "hihat"),
    "snare": ("kick", "hihat"),
    "tom": ("kick", "snare"),
}
#: Stands in for a missing bleed source.
STAND_IN = {"snare": "clap"}
FRAME_S = 0.01


def close_mic(name: str) -> str | None:
    return next((k for k in BLEED_FROM if name.startswith(k)), None)


def frame_energy(x: np.ndarray, rate: int) -> np.ndarray:
    n = int(FRAME_S * rate)
    m = len(x) // n
    return np.sum(audio.as_2d(x)[: m * n].reshape(m, n, -1) ** 2, axis=(1, 2))


def run_repair(binary: str, src: Path, out: Path) -> tuple[np.ndarray, str]:
    r = subprocess.run([binary, "repair", "-q", str(src), "-o", str(out)], check=True,
                       capture_output=True, text=True)
    return read(out)[0], r.stdout


def gated(stdout: str) -> str | None:
    """The gate note `repair` printed, if it gated."""
    m = re.search(r"^\s*(bleed at .*)$", stdout, re.M)
    return m.group(1) if m else None


def plant(stems: dict[str, Path], name: str, below_db: float, rng) -> tuple[np.ndarray, np.ndarray, int, list[str]]:
    """The clean stem, the bleed to add to it, the rate and the bleed's sources."""
    own, rate = read(stems[name])
    sources = []
    for want in BLEED_FROM[close_mic(name)]:
        found = next((s for s in sorted(stems) if s.startswith(want) and s != name), None)
        if found is None and want in STAND_IN:
            found = next((s for s in sorted(stems) if s.startswith(STAND_IN[want])), None)
        if found is not None:
            sources.append(found)
    bleed = np.zeros((len(own), 1))
    for s in sources:
        x, _ = read(stems[s])
        bleed[: len(x)] += x[: len(own)].mean(axis=1, keepdims=True)
    bleed = audio.apply_filters(bleed, [audio.biquad("lowpass", 6000.0, rate=rate)], rate)
    bleed = audio.fractional_delay(bleed, float(rng.uniform(0.001, 0.003)), rate)
    bleed = np.repeat(bleed, own.shape[1], axis=1)
    gain = audio.db_to_gain(audio.peak_db(own) - below_db - audio.peak_db(bleed))
    return own, bleed * gain, rate, sources


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", default=str(HERE.parent / "target/release/mixwright"))
    p.add_argument("--songs", default="")
    p.add_argument("--levels", default="15,20,25")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    out = a.out or Path(tempfile.mkdtemp(prefix="bleed_check."))
    out.mkdir(parents=True, exist_ok=True)
    levels = [float(v) for v in a.levels.split(",")]
    songs = sorted(d for d in CORPUS.iterdir() if (d / "stems").is_dir())
    if a.songs:
        songs = [s for s in songs if s.name in a.songs.split(",")]
    rows, clean_rows = [], []
    print("| song | stem | bleed from | planted dB | gated | bleed reduction dB | "
          "hits planted dB | hits repaired dB |")
    print("|---|---|---|---:|---|---:|---:|---:|")
    for sd in songs:
        stems = {f.stem: f for f in sorted((sd / "stems").glob("*.wav"))}
        for name in sorted(stems):
            if close_mic(name) is None:
                continue
            # (c) the clean stem alone.
            dst = out / sd.name / "clean" / f"{name}.wav"
            dst.parent.mkdir(parents=True, exist_ok=True)
            _, so = run_repair(a.bin, stems[name], dst)
            clean_rows.append({"song": sd.name, "stem": name, "gate": gated(so)})
            for k, below in enumerate(levels):
                rng = np.random.default_rng([k, len(name), len(sd.name)])
                own, bleed, rate, sources = plant(stems, name, below, rng)
                x = own + bleed
                src = out / sd.name / f"{below:g}" / f"{name}.wav"
                src.parent.mkdir(parents=True, exist_ok=True)
                audio.write_audio(src, x, rate, "FLOAT")
                y, so = run_repair(a.bin, src, src.with_name(f"{name}.repaired.wav"))
                y = y[: len(x)]
                eo, eb, ex, ey = (frame_energy(v, rate) for v in (own, bleed, x, y))
                between = (eb > 0) & (eo < eb * 10 ** (-20 / 10))
                hits = eo >= eo.max() * 10 ** (-20 / 10)
                row = {
                    "song": sd.name, "stem": name, "from": sources, "planted_db": below,
                    "gate": gated(so),
                    "between_s": float(between.sum() * FRAME_S),
                    "bleed_reduction_db": db(ex[between].sum()) - db(ey[between].sum()),
                    "hits_planted_db": db(ex[hits].sum()) - db(eo[hits].sum()),
                    "hits_repaired_db": db(ey[hits].sum()) - db(eo[hits].sum()),
                }
                rows.append(row)
                print(f"| {sd.name} | {name} | {'+'.join(sources)} | −{below:g} | "
                      f"{'yes' if row['gate'] else 'no'} | {row['bleed_reduction_db']:.1f} | "
                      f"{row['hits_planted_db']:+.2f} | {row['hits_repaired_db']:+.2f} |",
                      flush=True)
    print()
    print("| song | clean stem | gated |")
    print("|---|---|---|")
    for r in clean_rows:
        print(f"| {r['song']} | {r['stem']} | {r['gate'] or 'no'} |")
    found = [r for r in rows if r["gate"]]
    summary = {
        "planted": len(rows),
        "gated": len(found),
        "mean_bleed_reduction_db": float(np.mean([r["bleed_reduction_db"] for r in rows])) if rows else None,
        "min_bleed_reduction_db": float(np.min([r["bleed_reduction_db"] for r in rows])) if rows else None,
        "max_abs_hit_change_db": float(np.max([abs(r["hits_repaired_db"]) for r in rows])) if rows else None,
        "clean_gated": sum(1 for r in clean_rows if r["gate"]),
        "clean": len(clean_rows),
    }
    print()
    print(json.dumps(summary, indent=1))
    if a.json:
        a.json.write_text(json.dumps({"rows": rows, "clean": clean_rows, "summary": summary},
                                     indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
