#!/usr/bin/env bash
# The benchmark in one command: installs what it needs (bench/setup.sh) when missing,
# builds the corpus when missing (a built song is reused), builds mixwright in release,
# mixes every song clean and damaged, makes the two baselines, scores all of them and
# writes bench/out/results.json, bench/out/scores.svg (copied to
# docs/benchmark-scores.svg) and the results tables of BENCHMARKS.md.
#
# Usage: bench/run.sh [--corpus DIR] [--songs a,b] [--jobs N] [--asr] [--out DIR]
#        bench/run.sh --smoke [--bin PATH] [--out DIR]
#   --corpus DIR  use a corpus built elsewhere, read-only (default bench/corpus, built here)
#   --songs a,b   only these songs (BENCHMARKS.md is then not touched)
#   --asr         also count words recognised by pocketsphinx (slow)
#   --smoke       the harness check of the test suite: builds the 13-second song `smoke`
#                 into OUT/corpus, mixes and scores it, touches no committed file
#   --bin PATH    the mixwright binary to use (skips cargo build)
# Speed and memory are measured by bench/speed.py, not here.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
corpus="" songs="" jobs=2 asr="" out="" smoke="" bin=""
while [ $# -gt 0 ]; do
    case "$1" in
        --corpus) corpus="$2"; shift 2 ;;
        --songs) songs="$2"; shift 2 ;;
        --jobs) jobs="$2"; shift 2 ;;
        --asr) asr="--asr"; shift ;;
        --out) out="$2"; shift 2 ;;
        --smoke) smoke=1; shift ;;
        --bin) bin="$2"; shift 2 ;;
        *) echo "bench/run.sh: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
py="$here/.venv/bin/python"
t0=$(date +%s)

if ! { command -v fluidsynth && command -v espeak-ng && [ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] \
       && "$py" -c "import numpy, soundfile, scipy, pyloudnorm, matplotlib"; } >/dev/null 2>&1; then
    echo "== setup (bench/setup.sh)"
    bash "$here/setup.sh"
fi

if [ -n "$asr" ] && ! "$py" -c "import pocketsphinx" 2>/dev/null; then
    "$py" -m pip install -q pocketsphinx==5.1.1
fi

if [ -n "$smoke" ]; then
    out="${out:-$here/out/smoke}"
    corpus="$out/corpus"
    songs="smoke"
    jobs=1
fi
out="${out:-$here/out}"
if [ -z "$corpus" ]; then
    corpus="$here/corpus"
    echo "== corpus ($corpus; built songs are reused)"
    "$py" "$here/build_corpus.py" --out "$corpus" ${songs:+--songs "$songs"}
elif [ -n "$smoke" ]; then
    echo "== smoke corpus ($corpus)"
    "$py" "$here/build_corpus.py" --out "$corpus" --songs smoke --jobs 1
fi

if [ -z "$bin" ]; then
    echo "== cargo build --release"
    (cd "$root" && cargo build --release --quiet)
    bin="$root/target/release/mixwright"
fi

echo "== mix, baselines, scores"
args=(--corpus "$corpus" --out "$out" --bin "$bin" --jobs "$jobs" $asr)
[ -n "$songs" ] && args+=(--songs "$songs")
if [ -z "$songs" ]; then
    args+=(--benchmarks "$root/BENCHMARKS.md" --svg-copy "$root/docs/benchmark-scores.svg")
fi
"$py" "$here/bench.py" "${args[@]}"
echo "== done in $(( $(date +%s) - t0 )) s: $out/results.json"
