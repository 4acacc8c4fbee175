#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for the report's browser test (tests/eval/test_report_browser.py).
# Does nothing when /usr/bin/chromium exists. Needs root (apt-get); the test fails with this script's message
# when it cannot install, rather than skipping.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "chromium is missing and installing it needs root: run 'sudo apt-get install -y chromium' (Debian/Ubuntu)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null
