#!/usr/bin/env bash
# Fuzzes every target in fuzz/ for SECONDS each (default 60), starting from the committed
# seeds plus what earlier runs found (fuzz/corpus/, not in git), and prints each target's
# executions. Exits non-zero on the first crash, hang (a unit over 30 s) or out-of-memory;
# the failing input is saved in fuzz/artifacts/<target>/ and becomes a regression test
# under tests/.
#
# Builds as `cargo fuzz build -O` does (libFuzzer, SanitizerCoverage, AddressSanitizer, the
# same flags and target folder) without needing cargo-fuzz installed (minutes of compiling on
# CI), except that codegen stays parallel: cargo-fuzz's single codegen unit runs ~3× faster
# but builds far slower, and a CI run is short. `cargo fuzz run -O <target>` works too. The
# sanitizer flags are nightly-only; on a stable toolchain RUSTC_BOOTSTRAP=1 unlocks them.
#
# FUZZ_SANITIZER=none builds as `cargo fuzz build -O -s none` does: coverage-guided, panics
# and hangs still caught, no AddressSanitizer. The fuzzed paths are safe Rust (the library
# has no unsafe code; its dependencies' is what ASan would watch), and ASan makes the cold
# build far longer (38 min here, against 220 s of CPU without it): CI uses `none`. Each
# sanitizer has its own target folder.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_EACH="${1:-60}"
SANITIZER="${FUZZ_SANITIZER:-address}"
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS=" -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4\
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table\
 -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing\
 -Cllvm-args=-simplifycfg-branch-fold-threshold=0\
 -Cllvm-args=-sanitizer-coverage-stack-depth"
case "$SANITIZER" in
    address)
        RUSTFLAGS+=" -Zsanitizer=address"
        export ASAN_OPTIONS="detect_odr_violation=0"
        TARGET_DIR="target"
        ;;
    none) TARGET_DIR="target-none" ;;
    *) echo "fuzz: FUZZ_SANITIZER must be address or none, got $SANITIZER" >&2; exit 2 ;;
esac
export CARGO_TARGET_DIR="$TARGET_DIR"
cargo build --manifest-path Cargo.toml --target "$TRIPLE" --release \
    --config 'profile.release.debug="line-tables-only"' --bins
for target in decode session; do
    mkdir -p "corpus/$target" "artifacts/$target"
    log="$(mktemp)"
    if ! "$TARGET_DIR/$TRIPLE/release/$target" "corpus/$target" "seeds/$target" \
        -artifact_prefix="artifacts/$target/" -max_total_time="$SECONDS_EACH" -timeout=30 \
        -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz: $target FAILED (input in fuzz/artifacts/$target/)" >&2
        exit 1
    fi
    runs="$(awk '/stat::number_of_executed_units/ {print $2}' "$log")"
    echo "fuzz: $target: $runs executions in $SECONDS_EACH s, no crash"
    rm -f "$log"
done
