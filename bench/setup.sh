#!/usr/bin/env bash
# Install what the benchmark corpus and the example song are made with:
# FluidSynth, the FluidR3 GM SoundFont and espeak-ng (Debian packages), what the
# speed comparison runs (ffmpeg, sox, GNU time), and the pinned Python packages in a
# virtual environment at bench/.venv.
# Usage: bash bench/setup.sh   (then: bench/.venv/bin/python bench/build_corpus.py)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
need=()
command -v fluidsynth >/dev/null || need+=(fluidsynth)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || need+=(fluid-soundfont-gm)
# The peers and the memory meter of bench/speed.py.
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v sox >/dev/null || need+=(sox)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
[ -x "$here/.venv/bin/python" ] || python3 -m venv "$here/.venv"
"$here/.venv/bin/pip" install -q -r "$here/requirements.txt"
