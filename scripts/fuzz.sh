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
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_EACH="${1:-60}"
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS=" -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4\
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table\
 -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing\
 -Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Zsanitizer=address\
 -Cllvm-args=-sanitizer-coverage-stack-depth"
export ASAN_OPTIONS="detect_odr_violation=0"
cargo build --manifest-path Cargo.toml --target "$TRIPLE" --release \
    --config 'profile.release.debug="line-tables-only"' --bins
for target in decode session; do
    mkdir -p "corpus/$target" "artifacts/$target"
    log="$(mktemp)"
    if ! "target/$TRIPLE/release/$target" "corpus/$target" "seeds/$target" \
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
