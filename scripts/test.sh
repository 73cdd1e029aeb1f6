#!/usr/bin/env bash
# Installs autocode with its test dependencies into .venv and runs the test suite.
# The README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
# Headless Chromium for the annotation page's browser tests (Debian's package, no download by Playwright).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "note: could not install chromium; browser tests will be skipped"
fi
# PostgreSQL for the tests that run the store on it as well as on SQLite: Debian's server binaries.
# The tests start a throwaway cluster as an unprivileged user on a Unix socket in a private
# folder, and stop it (tests/conftest.py, `postgres`); without the binaries those tests skip.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
    || echo "note: could not install postgresql; the PostgreSQL tests will be skipped"
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q torch==2.13.0 -e '.[test,ray,multilingual]'
# portableQDA (a third-party .qdc reader the tests check exports against) pins lxml<5; it runs on
# lxml 5, so it is installed without its pins
.venv/bin/python -m pip install -q --no-deps portableqda
.venv/bin/python -m pytest -q "$@"
