#!/usr/bin/env bash
# Rewrites Tests/QEMUCommandLineTests/Golden/*.dumpxml, *.args and *.err from the *.xml cases
# with the current normaliser and argv builder. Review the diff (git diff
# Tests/QEMUCommandLineTests/Golden) before committing: it is exactly what the change does to
# the definitions and to QEMU's command line.
set -euo pipefail
cd "$(dirname "$0")/.."
CORRAL_REGENERATE_GOLDEN=1 swift test --filter GoldenCommandLineTests 2>&1 | grep -E '✘|Test run|error:' || true
git status --short Tests/QEMUCommandLineTests/Golden
