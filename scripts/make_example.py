#!/usr/bin/env python3
"""Regenerate the example multitrack in ``example/song/`` (and ``example/reference.json``).

The example is ``songs.example_song()`` from ``bench/songs.py``: about 25 s of pop at
96 bpm in F major with seven stems (kick, snare, hihat, bass, keys, pad, vocal), made
by the same code as the benchmark corpus: MIDI written by Python, rendered per
instrument with FluidSynth and the FluidR3 GM SoundFont, and a lead vocal of real
words from espeak-ng. Stems are written as 16-bit FLAC, 44.1 kHz, all the same length.

Usage: ``python3 scripts/make_example.py [--out example]``. Needs fluidsynth,
espeak-ng and fluid-soundfont-gm (Debian packages of those names) and the Python
packages in ``bench/requirements.txt``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import audio  # noqa: E402
import build_corpus  # noqa: E402
import songs  # noqa: E402

#: The example ships in git: keep it small.
MAX_BYTES = 8 * 1024 * 1024


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "example", help="folder for song/ and reference.json")
    a = p.parse_args(argv)
    song = songs.example_song()
    stems = songs.render_song(song)
    checks = songs.check_stems(song, stems, ext=".flac")
    song_dir = a.out / "song"
    song_dir.mkdir(parents=True, exist_ok=True)
    for old in song_dir.glob("*.flac"):
        old.unlink()
    total = 0
    for t in song.stems:
        path = song_dir / f"{t.name}.flac"
        audio.write_audio(path, stems[t.name], audio.RATE, "PCM_16")
        total += path.stat().st_size
        print(f"{path.relative_to(a.out)}: {stems[t.name].shape[1]} ch, {path.stat().st_size / 1e6:.2f} MB")
    ref = songs.reference_balance(song, stems, ext=".flac")
    doc = build_corpus.reference_document(song, ref, checks, ext=".flac", mix_file=None)
    (a.out / "reference.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(f"{len(song.stems)} stems, {song.frames / audio.RATE:.1f} s, {total / 1e6:.2f} MB in {song_dir}")
    if total > MAX_BYTES:
        print(f"error: the example is {total} bytes, over the {MAX_BYTES} byte budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
