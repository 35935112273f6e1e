#!/usr/bin/env bash
# Peak memory of a long mix: writes TRACKS mono 48 kHz stems of MINUTES minutes (a
# 10-minute `make_session` multitrack, 16-bit FLAC, each stem looped MINUTES/10 times) in
# DIR, mixes them with the release build and prints the peak RSS the OS measured.
#   scripts/long_session.sh DIR TRACKS MINUTES     (MINUTES a multiple of 10)
# Disk: the stems take ~170 MB per track-hour; the mix's spools in $TMPDIR 691 MB per
# track-hour plus 2.8 GB per hour for the bus and master. Delete DIR afterwards.
set -euo pipefail
DIR="$1"; TRACKS="$2"; MINUTES="$3"
LOOPS=$((MINUTES / 10))
cd "$(dirname "$0")/.."
cargo build --release --bin mixwright --example make_session
mkdir -p "$DIR/wav10" "$DIR/stems"
target/release/examples/make_session "$DIR/wav10" "$TRACKS" 10 48000 mono
for f in "$DIR"/wav10/*.wav; do
    name="$(basename "$f" .wav)"
    # sox -R: repeatable dither, so the same stems every time.
    sox -R "$f" -b 16 "$DIR/$name.flac"
    rm "$f"
    args=()
    for _ in $(seq "$LOOPS"); do args+=("$DIR/$name.flac"); done
    sox -R "${args[@]}" "$DIR/stems/$name.flac"
    rm "$DIR/$name.flac"
done
rmdir "$DIR/wav10"
/usr/bin/time -f "peak RSS %M kB, %e s" target/release/mixwright mix "$DIR/stems" \
    -o "$DIR/mix.flac" -q
