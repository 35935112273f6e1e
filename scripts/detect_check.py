#!/usr/bin/env python3
"""Problem detectors against the benchmark corpus's planted damage.

Runs `mixwright analyze --json` on every song's damaged stems and on its clean stems, and
compares what it finds with `damage.json`: per detector, found / planted on the damaged
stems, false alarms on damaged stems that did not get that damage, and false alarms on the
clean stems. A finding on a damaged stem whose clean original shows the same problem
(a DC offset already in the source) is counted as "in the source", not as a false alarm.
For the related pair (polarity flip and delay) it checks the `related` entries that
analyze prints when given several files (lags measured at the files' most common rate).

    bench/.venv/bin/python scripts/detect_check.py [--bin target/release/mixwright]
        [--corpus /work/main/bench/corpus] [--songs a,b]
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

DETECTORS = ["dc", "rumble", "hum", "noise", "clicks", "clipping"]


def analyze(binary, files):
    out = subprocess.run(
        [binary, "--quiet", "analyze", "--json", *map(str, files)],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


def planted(d, det):
    """Whether damage record d planted what detector det looks for."""
    return {
        "dc": bool(d.get("dc_offset")),
        "hum": d.get("hum") is not None,
        "noise": d.get("hiss") is not None,
        "clipping": d.get("clip") is not None,
        "rumble": False,
        "clicks": False,
    }[det]


def by_name(result):
    return {Path(f["file"]).name: f for f in result}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/mixwright")
    ap.add_argument("--corpus", default="/work/main/bench/corpus")
    ap.add_argument("--songs", default="")
    args = ap.parse_args()
    corpus = Path(args.corpus)
    songs = sorted(p.name for p in corpus.iterdir() if (p / "damage.json").exists())
    if args.songs:
        songs = [s for s in songs if s in args.songs.split(",")]

    tally = {d: {"found": 0, "planted": 0, "false_damaged": 0, "source": 0, "false_clean": 0,
                 "clean_n": 0, "damaged_n": 0} for d in DETECTORS}
    details = []
    pairs = []
    for song in songs:
        truth = json.loads((corpus / song / "damage.json").read_text())
        damaged_files = sorted((corpus / song / "damaged").iterdir())
        clean_files = sorted((corpus / song / "stems").iterdir())
        dam_raw = analyze(args.bin, damaged_files)
        cln_raw = analyze(args.bin, clean_files)
        dam, cln = by_name(dam_raw), by_name(cln_raw)
        for stem, d in truth["stems"].items():
            a = dam[d["file"]]["problems"]
            c = cln[stem]["problems"]
            for det in DETECTORS:
                t = tally[det]
                t["damaged_n"] += 1
                t["clean_n"] += 1
                if c.get(det) is not None:
                    t["false_clean"] += 1
                    details.append(f"{song}/{stem} clean: {det} {json.dumps(c[det])[:160]}")
                if planted(d, det):
                    t["planted"] += 1
                    if a.get(det) is not None:
                        t["found"] += 1
                    else:
                        details.append(f"{song}/{d['file']}: {det} missed")
                elif a.get(det) is not None:
                    if c.get(det) is not None:
                        t["source"] += 1
                    else:
                        t["false_damaged"] += 1
                        details.append(f"{song}/{d['file']}: {det} false alarm "
                                       f"{json.dumps(a[det])[:160]}")
            if d.get("hum") and a.get("hum"):
                h = a["hum"]
                fund = [x for x in h["harmonics"] if abs(x["freq_hz"] - h["mains_hz"]) < 1]
                err = fund[0]["level_dbfs"] - d["hum"]["fundamental_rms_dbfs"] if fund else None
                details.append(
                    f"{song}/{d['file']}: hum planted {d['hum']['mains_hz']} Hz at "
                    f"{d['hum']['fundamental_rms_dbfs']} dBFS (+harmonics 2-7), found "
                    f"{h['mains_hz']} Hz, {len(h['harmonics'])} lines, fundamental error "
                    f"{err if err is None else round(err, 2)} dB")
            if d.get("hiss") and a.get("noise"):
                n = a["noise"]
                details.append(
                    f"{song}/{d['file']}: {d['hiss']['color']} hiss planted "
                    f"{d['hiss']['rms_dbfs']} dBFS, found {n['level_dbfs']:.2f} "
                    f"(error {n['level_dbfs'] - d['hiss']['rms_dbfs']:+.2f} dB), SNR {n['snr_db']:.1f}")
            if d.get("clip") and a.get("clipping"):
                k = a["clipping"]
                details.append(
                    f"{song}/{d['file']}: clipping planted {d['clip'].get('clipped_samples')} "
                    f"samples at drive {d['clip']['drive_db']} dB, found {k['samples']} samples "
                    f"in {k['runs']} runs (longest {k['longest_run']})")
            if d.get("dc_offset") and a.get("dc"):
                details.append(
                    f"{song}/{d['file']}: DC planted {d['dc_offset']}, found "
                    f"{[round(v, 4) for v in a['dc']['per_channel']]}")
        p = truth.get("pair")
        if p:
            fa = truth["stems"][p["primary"]]["file"]
            fb = truth["stems"][p["secondary"]]["file"]
            rel = [r for r in dam[fb].get("related") or [] if Path(r["file"]).name == fa]
            others = sum(len(f.get("related") or []) for f in dam_raw) // 2 - len(rel)
            clean_pairs = sum(len(f.get("related") or []) for f in cln_raw) // 2
            want_inv = p["inverted"] is not None
            if rel:
                r = rel[0]
                want = p["delay_ms"] / 1000 * r["sample_rate"]
                pairs.append((song, fa, fb, p["delay_ms"], want, r["lag_samples"],
                              r["sample_rate"], want_inv, r["polarity_inverted"],
                              r["correlation"], others, clean_pairs))
            else:
                pairs.append((song, fa, fb, p["delay_ms"], None, None, None, want_inv, None,
                              None, others, clean_pairs))
            for f in dam_raw:
                for r in f.get("related") or []:
                    if Path(f["file"]).name < Path(r["file"]).name:
                        details.append(f"{song} damaged related: {Path(f['file']).name} ~ "
                                       f"{Path(r['file']).name} corr {r['correlation']:.3f} "
                                       f"lag {r['lag_samples']}")

    print(f"songs: {len(songs)}\n")
    print("| detector | found / planted | false alarms (damaged stems without it) | "
          "in the clean source too | false alarms on clean stems |")
    print("|---|---|---|---|---|")
    for det in DETECTORS:
        t = tally[det]
        print(f"| {det} | {t['found']} / {t['planted']} | {t['false_damaged']} / "
              f"{t['damaged_n'] - t['planted']} | {t['source']} | "
              f"{t['false_clean']} / {t['clean_n']} |")
    if pairs:
        print("\n| song | pair (primary / delayed secondary) | planted delay ms (samples) | "
              "found lag (samples) | polarity inverted planted / found | correlation | "
              "other pairs reported (damaged) | pairs reported (clean) |")
        print("|---|---|---|---|---|---|---|---|")
        for (song, fa, fb, ms, want, lag, rate, wi, fi, corr, others, cp) in pairs:
            w = f"{ms} ({want:.2f} at {rate} Hz)" if want is not None else f"{ms}"
            print(f"| {song} | {fa} / {fb} | {w} | {lag} | {wi} / {fi} | "
                  f"{'-' if corr is None else round(corr, 3)} | {others} | {cp} |")
    print("\nDetails:")
    for line in details:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
