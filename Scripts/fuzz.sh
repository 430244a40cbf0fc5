#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ (AddressSanitizer, coverage for libFuzzer) and runs each
# for SECONDS (default 20) on its seed corpus in Fuzz/Corpus/TARGET; new inputs go to a scratch
# corpus, never into the repository. Any crash fails the script and leaves its input in
# .build/fuzz/crashes/. Usage: Scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"; shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(FuzzRPC FuzzXMLTree FuzzDomainXML FuzzJSON FuzzQMP FuzzQEMUConfig)
runtime=$(dirname "$(readlink -f "$(command -v swiftc)")")/../lib/clang
fuzzer_lib=$(ls "$runtime"/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a | head -1)
echo "== building fuzz targets"
mkdir -p .build
swift build --package-path Fuzz --scratch-path .build/fuzz-build -c debug \
  -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
  -Xlinker "$fuzzer_lib" -Xlinker -lstdc++ >.build/fuzz-build.log 2>&1 || {
    grep -E 'error' .build/fuzz-build.log >&2 || tail -40 .build/fuzz-build.log >&2
    echo "the fuzz targets do not build" >&2
    exit 1
  }
grep -E 'warning: unre|Build complete' .build/fuzz-build.log || true
bin=.build/fuzz-build/debug
mkdir -p .build/fuzz/crashes
status=0
for target in "${targets[@]}"; do
  [ -x "$bin/$target" ] || { echo "$target was not built" >&2; exit 1; }
  scratch=.build/fuzz/corpus/$target
  mkdir -p "$scratch"
  log=.build/fuzz/$target.log
  if ASAN_OPTIONS=detect_leaks=0 "$bin/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 \
       -artifact_prefix=.build/fuzz/crashes/"$target"- -print_final_stats=1 "$scratch" "Fuzz/Corpus/$target" >"$log" 2>&1; then
    runs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    echo "$target: ${seconds}s, $runs executions, no crash"
  else
    echo "$target: FAILED; its log follows" >&2
    tail -40 "$log" >&2
    status=1
  fi
done
exit $status
