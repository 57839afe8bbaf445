#!/usr/bin/env bash
# The system packages the tests and the demo need, installed from Debian when
# missing: venv support for Python, a JDK and Maven (to build the HAPI FHIR
# server) and Chromium (for the browser tests). Does nothing when everything
# is already there.
set -euo pipefail

missing=()
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
[ -x /usr/bin/chromium ] || missing+=(chromium)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "installing: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
