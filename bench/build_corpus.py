#!/usr/bin/env python3
"""Build the benchmark corpus: clean stems, reference balance and mix, damaged stems.

For every song in ``songs.SONGS`` this writes::

    bench/corpus/<song>/stems/<stem>.wav     clean stems as rendered (24-bit, 44.1 kHz,
                                             mono or stereo, all the same length)
    bench/corpus/<song>/reference.json       roles, reference gains and pans, lyrics, timing
    bench/corpus/<song>/reference_mix.wav    the stems at their reference gains, summed
    bench/corpus/<song>/damaged/…            the same stems damaged (see damage.py)
    bench/corpus/<song>/damage.json          what was done to each of them

A song whose ``reference.json`` exists is skipped unless ``--force`` (the file is
written last, so it marks a complete build); damage is likewise skipped when its
``damage.json`` exists. Songs build in parallel, two at a time by default.

Usage: ``python3 bench/build_corpus.py [--out DIR] [--songs a,b] [--jobs N] [--force]
[--no-damage]``. Needs fluidsynth, espeak-ng and fluid-soundfont-gm (see songs.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from multiprocessing import Pool
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import audio  # noqa: E402
import damage  # noqa: E402
import songs  # noqa: E402

#: Sample format of the clean stems and the reference mix.
SUBTYPE = "PCM_24"


def tool_versions() -> dict[str, str]:
    """The renderers' versions, recorded with every build (they shape the audio)."""
    def first_line(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "unknown"
    return {
        "fluidsynth": first_line(["fluidsynth", "--version"]),
        "espeak-ng": first_line(["espeak-ng", "--version"]),
        "soundfont": f"{songs.SF2.name} (FluidR3 GM by Frank Wen, MIT licence)",
    }


def reference_document(song: songs.Song, ref: dict, checks: dict, ext: str = ".wav",
                       mix_file: str | None = "reference_mix.wav") -> dict:
    """The JSON written as reference.json (stems named with ``ext``)."""
    lead = [t for t in song.stems if t.role == "lead_vocal"]
    return {
        "song": song.name,
        "style": song.style,
        "tempo": song.tempo,
        "key": song.key,
        "sample_rate": audio.RATE,
        "frames": song.frames,
        "duration_s": round(song.frames / audio.RATE, 3),
        "sections": [{"name": n, "start_s": round(a, 3), "end_s": round(b, 3)} for n, a, b in song.sections],
        "lyrics": song.lyrics(),
        "lyric_lines": [
            {"stem": t.name + ext, "text": p.text, "start_s": round(p.start, 3), "end_s": round(p.start + p.slot, 3)}
            for t in lead for p in t.phrases
        ],
        "stems": ref["stems"],
        "pairs": [{"primary": a + ext, "secondary": b + ext} for a, b in song.pairs],
        "mix": {"file": mix_file, "lufs": ref["mix_lufs"], "peak_dbfs": ref["mix_peak_dbfs"]},
        "mix_rule": (
            "mix = sum over stems of gain_db applied to the stem; mono stems are panned with the "
            "constant-power law (L = cos((pan+1)*pi/4), R = sin((pan+1)*pi/4), so centre is -3 dB a side); "
            "stereo stems keep their channels (pan only attenuates the far side). No other processing."
        ),
        "balance_rule": (
            "each stem's gated BS.1770 loudness in the mix is aimed at target_lu_vs_lead "
            "(lead vocal 0 LU; kick, snare, bass next; harmony; pads and effects last); "
            "loudness_lu_vs_mix is the stem's measured loudness minus the mix's."
        ),
        "checks": checks,
        "tools": tool_versions(),
    }


def build_song(name: str, out: Path, force: bool, do_damage: bool) -> str:
    """Render, check and write one song; returns a one-line summary."""
    t0 = time.monotonic()
    song = {**songs.SONGS, **songs.EXTRA}[name]()
    song_dir = out / name
    ref_path = song_dir / "reference.json"
    built = "skipped (built)"
    if force or not ref_path.exists():
        stems = songs.render_song(song)
        checks = songs.check_stems(song, stems)
        stem_dir = song_dir / "stems"
        stem_dir.mkdir(parents=True, exist_ok=True)
        for old in stem_dir.glob("*.wav"):
            old.unlink()
        for t in song.stems:
            audio.write_audio(stem_dir / t.file, stems[t.name], audio.RATE, SUBTYPE)
        ref = songs.reference_balance(song, stems)
        audio.write_audio(song_dir / "reference_mix.wav", ref["mix"], audio.RATE, SUBTYPE)
        doc = reference_document(song, ref, checks)
        tmp = ref_path.with_suffix(".json.part")
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        tmp.replace(ref_path)
        built = f"built {len(song.stems)} stems, {song.frames / audio.RATE:.1f} s"
    damaged = "no damage"
    if do_damage:
        damaged = damage.damage_song(song_dir, force=force)
    return f"{name}: {built}; {damaged} ({time.monotonic() - t0:.1f} s)"


def _job(args):
    return build_song(*args)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=HERE / "corpus", help="corpus folder (default bench/corpus)")
    p.add_argument("--songs", default="", help="comma-separated song names (default: all)")
    p.add_argument("--jobs", type=int, default=2, help="songs built in parallel (default 2)")
    p.add_argument("--force", action="store_true", help="rebuild songs that are already built")
    p.add_argument("--no-damage", action="store_true", help="skip the damaged stems")
    a = p.parse_args(argv)
    names = [n for n in a.songs.split(",") if n] or list(songs.SONGS)
    unknown = [n for n in names if n not in songs.SONGS and n not in songs.EXTRA]
    if unknown:
        p.error(f"unknown song(s) {', '.join(unknown)}; known: {', '.join(songs.SONGS)}")
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    jobs = [(n, a.out, a.force, not a.no_damage) for n in names]
    if a.jobs > 1 and len(jobs) > 1:
        with Pool(min(a.jobs, len(jobs))) as pool:
            for line in pool.imap_unordered(_job, jobs):
                print(line, flush=True)
    else:
        for j in jobs:
            print(_job(j), flush=True)
    print(f"corpus at {a.out}: {len(names)} songs in {time.monotonic() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
