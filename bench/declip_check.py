#!/usr/bin/env python3
"""Declip check: clean corpus stems clipped by 6, 9 and 12 dB, rebuilt by ``mixwright
repair`` and by ffmpeg's ``adeclip`` on the same files in the same run; SNR against the
clean original over the clipped samples, before and after, and the seconds each took.

Per song, the stem ``damage.json`` picked for clipping (the loud, peaky roles: kick,
snare, bass, guitar, piano, vocal); its loudest excerpt of ``--seconds`` (whole-second
steps), peak-normalised to full scale, driven by the drive and hard-clipped at ±1, written as
32-bit float. The clean original is the same excerpt driven but not clipped; "clipped
regions" are the samples where it passes ±1. Outputs are lined up with it (integer lag
from the cross-correlation of the unclipped samples; ``lag`` is reported) and their
level matched there (a repaired file holding overs is lowered to fit under full scale).

Runs of ours: ``given`` (``--settings`` switching the declipper on at rail 1.0: the DSP
alone) and ``detected`` (what the analysis decides: the shipping path, with the
engineer's run-length rule). ``--baseline-bin`` adds another build's ``given`` run
(e.g. main's, to compare declippers).

Usage: ``bench/.venv/bin/python bench/declip_check.py [--bin target/release/mixwright]
[--songs a,b] [--runs given,detected] [--drives 6,9,12] [--seconds 6] [--baseline-bin PATH] [--out rows.json]
[--no-adeclip]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# score before repair_check: repair_check puts main's bench folder first on the path.
from score import clip_snr, loudest  # noqa: E402
from repair_check import CORPUS, audio, read, run_ffmpeg, run_ours  # noqa: E402


def longest_run_ms(mask: np.ndarray, rate: int) -> float:
    best = 0
    for c in range(mask.shape[1]):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], mask[:, c].astype(int), [0]])))
        if len(edges):
            best = max(best, int(np.max(edges[1::2] - edges[::2])))
    return 1e3 * best / rate


def check_declip(a) -> list[dict]:
    songs = sorted(d for d in CORPUS.iterdir() if (d / "damage.json").exists())
    if a.songs:
        songs = [s for s in songs if s.name in a.songs.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="declip_check."))
    given = {"declip": {"rail": 1.0}}
    rows = []
    for song in songs:
        stems = json.loads((song / "damage.json").read_text())["stems"]
        name = next(n for n, d in stems.items() if d["clip"])
        clean, rate = audio.read_audio(song / "stems" / name)
        s0 = loudest(clean, rate, a.seconds)
        clean = clean[s0: s0 + int(a.seconds * rate)]
        clean = clean / np.max(np.abs(clean))
        for drive in a.drives:
            ref = clean * 10 ** (drive / 20)
            mask = np.abs(ref) > 1.0
            x = np.clip(ref, -1.0, 1.0)
            src = tmp / f"{song.name}-{Path(name).stem}-{drive:g}dB.wav"
            sf.write(str(src), x, rate, subtype="FLOAT")
            before, _ = clip_snr(ref, x, mask)
            row = {"song": song.name, "stem": name, "drive_db": drive,
                   "clipped_pct": round(100 * mask.mean(), 2),
                   "longest_run_ms": round(longest_run_ms(mask, rate), 2),
                   "snr_clipped_db": round(before, 2)}
            runs = [r for r in (("given", a.bin, given), ("detected", a.bin, None))
                    if r[0] in a.runs]
            if a.baseline_bin:
                runs.append(("baseline", a.baseline_bin, given))
            for label, binary, settings in runs:
                out = src.with_name(f"{src.stem}-{label}.wav")
                row[f"{label}_s"] = round(run_ours(binary, src, out, settings), 2)
                after, lag = clip_snr(ref, read(out)[0], mask)
                row[f"{label}_gain_db"] = round(after - before, 2)
                row[f"{label}_lag"] = lag
            if not a.no_adeclip:
                out = src.with_name(f"{src.stem}-adeclip.wav")
                row["adeclip_s"] = round(run_ffmpeg(src, out, "adeclip"), 2)
                after, lag = clip_snr(ref, read(out)[0], mask)
                row["adeclip_gain_db"] = round(after - before, 2)
                row["adeclip_lag"] = lag
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def table(rows: list[dict]) -> str:
    """Markdown table of the rows: SNR gain in the clipped regions and seconds per file."""
    labels = [k[:-8] for k in rows[0] if k.endswith("_gain_db")] if rows else []
    head = ["song/stem", "drive dB", "clipped %", "longest ms", "SNR before dB"]
    head += [f"{lb} gain dB" for lb in labels] + [f"{lb} s" for lb in labels]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [f"{r['song']}/{r['stem']}", f"{r['drive_db']:g}", f"{r['clipped_pct']}",
                 f"{r['longest_run_ms']}", f"{r['snr_clipped_db']}"]
        cells += [f"{r[f'{lb}_gain_db']}" for lb in labels] + [f"{r[f'{lb}_s']}" for lb in labels]
        out.append("| " + " | ".join(cells) + " |")
    for drive in sorted({r["drive_db"] for r in rows}):
        sel = [r for r in rows if r["drive_db"] == drive]
        cells = ["median", f"{drive:g}", "", "", f"{np.median([r['snr_clipped_db'] for r in sel]):.2f}"]
        cells += [f"{np.median([r[f'{lb}_gain_db'] for r in sel]):.2f}" for lb in labels]
        cells += [f"{np.sum([r[f'{lb}_s'] for r in sel]):.1f} (sum)" for lb in labels]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", default=str(HERE.parent / "target/release/mixwright"))
    p.add_argument("--baseline-bin", default=None)
    p.add_argument("--songs", default="")
    p.add_argument("--runs", default="given,detected", help="runs of --bin: given, detected")
    p.add_argument("--drives", default="6,9,12")
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--no-adeclip", action="store_true",
                   help="skip ffmpeg adeclip (it takes up to minutes per file): ours alone")
    a = p.parse_args(argv)
    a.drives = [float(d) for d in a.drives.split(",")]
    a.runs = a.runs.split(",")
    rows = check_declip(a)
    print(table(rows))
    if a.out:
        a.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
