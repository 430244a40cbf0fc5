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
echo "== fuzzing (each libFuzzer target for 8 s on its seed corpus)"
timeout -k 30 900 bash Scripts/fuzz.sh 8
echo "== benchmark smoke (every figure's code path with tiny counts; the figures mean nothing here)"
timeout -k 30 900 .build/debug/corral-bench --only rpc,domains,passthrough,memory --seconds 0.2 --connections 1,2 \
  --passthrough-clients 1,2 --memory-guests 2 --domains 40 > .build/bench-smoke.log 2>&1 \
  || { echo "the benchmark smoke failed; its log follows" >&2; cat .build/bench-smoke.log >&2; exit 1; }
echo "== acceptance tests (virsh, libvirt-python, libvirtd; two modules at a time)"
# libvirtd is started once for both pytest workers (each worker's session fixture then finds it
# running and leaves it alone), and stopped at the end if this script started it.
libvirtd_state=$(bash Scripts/test-libvirtd.sh start)
trap '[ "$libvirtd_state" = started ] && bash Scripts/test-libvirtd.sh stop >/dev/null 2>&1 || true' EXIT
timeout -k 30 1500 /usr/bin/python3 -m pytest -q -p no:cacheprovider -n 2 --dist loadgroup --durations=15 tests-python
