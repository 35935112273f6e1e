#!/usr/bin/env python3
"""Hum check: each planted-hum stem of the corpus through ``mixwright repair`` alone, scored
with the benchmark's own hum measure (``score._hum_db``: power within ±3 Hz of mains
harmonics 1–7 in the clean stem's gaps, relative to the playing level), before and after.

Usage: ``bench/.venv/bin/python bench/hum_check.py [--bin target/release/mixwright]
[--songs a,b] [--out DIR]`` (DIR keeps the repaired files; default a temporary folder).
A stem whose clean original has under 1 s of gap is printed but, as in the benchmark,
not meant to be scored (``gap`` column).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import score  # noqa: E402
from repair_check import CORPUS  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", default=str(HERE.parent / "target/release/mixwright"))
    p.add_argument("--songs", default="")
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)
    out = a.out or Path(tempfile.mkdtemp(prefix="hum_check."))
    out.mkdir(parents=True, exist_ok=True)
    songs = sorted(d for d in CORPUS.iterdir() if (d / "damage.json").exists())
    if a.songs:
        songs = [s for s in songs if s.name in a.songs.split(",")]
    print("| song | stem | mains Hz | gap s | before dB | after dB | reduction dB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for sd in songs:
        song = score.load_song(sd)
        frames = song["ref"]["frames"]
        for clean_name, t in song["damage"]["stems"].items():
            if not t["hum"]:
                continue
            name = score.stem_name(clean_name)
            src = sd / "damaged" / t["file"]
            dst = out / f"{sd.name}_{name}.wav"
            subprocess.run([a.bin, "repair", "-q", str(src), "-o", str(dst)], check=True,
                           capture_output=True)
            clean = score.read_at(sd / "stems" / clean_name, frames)
            gap, play = score._gap_and_play(clean)
            mains = t["hum"]["mains_hz"]
            before = score._hum_db(score.stereo(score.read_at(src, frames)), gap, play, mains)
            after = score._hum_db(score.stereo(score.read_at(dst, frames)), gap, play, mains)
            print(f"| {sd.name} | {name} | {mains} | {gap.sum() * score.HOP / score.RATE:.1f} | "
                  f"{before:.1f} | {after:.1f} | {before - after:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
