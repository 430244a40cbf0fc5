#!/usr/bin/env bash
# Runs Corral's whole test suite: installs what it needs, builds, then runs the Swift tests
# (unit and integration, with real QEMU, corrald and libvirtd) and the acceptance tests that
# drive corrald with the real virsh and libvirt-python.
set -euo pipefail
cd "$(dirname "$0")/.."

bash Scripts/install-dependencies.sh
bash Scripts/build-test-guest.sh
echo "== building"
swift build
python3 Scripts/generate-procedures.py --check
echo "== swift test"
# A hard limit, so a hang fails here with its log instead of running into CI's limit.
timeout -k 30 1500 swift test 2>&1 | tee .build/swift-test.log \
  | grep --line-buffered -E '^(✘|✔ Suite|✔ Test run|Test run|error:)|recorded an issue' || true
if ! grep -qE '^✔ Test run with [0-9]+ tests? .*passed' .build/swift-test.log; then
  echo "swift test failed; full log follows" >&2
  cat .build/swift-test.log >&2
  exit 1
fi
echo "== fuzzing (each libFuzzer target for 15 s on its seed corpus)"
timeout -k 30 900 bash Scripts/fuzz.sh 15
echo "== benchmark smoke (every figure's code path with tiny counts; the figures mean nothing here)"
timeout -k 30 900 .build/debug/corral-bench --only rpc,domains,passthrough,memory --seconds 0.2 --connections 1,2 \
  --passthrough-clients 1,2 --memory-guests 2 --domains 40 > .build/bench-smoke.log 2>&1 \
  || { echo "the benchmark smoke failed; its log follows" >&2; cat .build/bench-smoke.log >&2; exit 1; }
echo "== acceptance tests (virsh, libvirt-python, libvirtd)"
timeout -k 30 1500 /usr/bin/python3 -m pytest -q -p no:cacheprovider --durations=15 tests-python
