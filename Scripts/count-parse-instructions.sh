#!/bin/bash
# Instructions a define's parse costs, counted by valgrind's callgrind: the define benchmark's
# definition read, checked, normalised and formatted (`corral-bench --only define-parse`), per
# definition, with the main stages. Counts are the same run after run, where times on a shared
# machine move by ±10%: use them to compare two builds of the parse.
#
#   Scripts/count-parse-instructions.sh [CORRAL-BENCH]   (default: a release build of this checkout)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind > /dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind > /dev/null; }
bench=${1:-}
if [ -z "$bench" ]; then
    swift build -c release --static-swift-stdlib --product corral-bench > /dev/null
    bench=.build/release/corral-bench
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# valgrind cannot read Swift's DWARF: the symbol table is enough.
cp "$bench" "$work/bench" && strip --strip-debug "$work/bench"
valgrind --tool=callgrind --callgrind-out-file="$work/out" "$work/bench" --only define-parse > "$work/log" 2>&1
# The benchmark parses 5,100 definitions (100 of them to warm up).
callgrind_annotate --inclusive=yes "$work/out" 2>/dev/null | awk '
    /DefineParseCostO7measure/ { stage = "everything (parse, checks, normalising, formatting)" }
    /0A9XMLParserO5parse_7optionsAA06ParsedA0V7XMLTree10XMLElementV_/ { stage = "the tree checked, normalised and typed" }
    /0A10NormalizerO9normalize_7options/ { stage = "normalising" }
    /20PCIAddressAssignmentO6assign_7machine/ { stage = "PCI address assignment" }
    /10normalized4qemu/ { stage = "typed definition" }
    /XMLTree0A6ParserO5parse_6limits/ { stage = "XML parsing" }
    /A12XMLFormatterO6formatySS7XMLTree10XMLElementVFZ / { stage = "formatting" }
    stage != "" && !(stage in seen) { gsub(",", "", $1); seen[stage] = 1; printf "%9.0f instructions per definition: %s\n", $1 / 5100, stage }
    { stage = "" }'
