#!/usr/bin/env bash
#
# Runs sluice's whole test suite (unit and integration tests with real Kafka clients), first
# installing whatever the suite needs and is missing:
#
#   - kcat (Debian's package, librdkafka 2.0.2)                       apt-get
#   - .venv with confluent-kafka, kafka-python, aiokafka               python3 -m venv + pip
#     (versions pinned in tests/python/requirements.txt)
#   - .venv-kp202 with kafka-python 2.0.2 only                         python3 -m venv + pip
#     (tests/python/requirements-kp202.txt)
#   - .venv-kp3 with kafka-python 3 only                               python3 -m venv + pip
#     (tests/python/requirements-kp3.txt)
#   - kafkajs in tests/js/node_modules (tests/js/package-lock.json)    npm ci
#
# Everything already present is left alone, so a second run goes straight to the tests.
#
#   scripts/test.sh                  # cargo test --workspace --all-targets
#   scripts/test.sh --test it kcat:: # any other arguments go to `cargo test` instead
#                                    # (integration tests: the `it` crate, one module per theme)
#
# Environment: SLUICE_PYTHON (interpreter the Python tests use; default .venv/bin/python),
# SLUICE_PYTHON_KP202 (the kafka-python 2.0.2 one; default .venv-kp202/bin/python),
# SLUICE_PYTHON_KP3 (the kafka-python 3 one; default .venv-kp3/bin/python),
# SLUICE_SKIP_INSTALL=1 (check nothing, install nothing; just run cargo test).
set -euo pipefail

cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "need root (or sudo) to run: $*" >&2
        return 1
    fi
}

apt_updated=
apt_install() {
    say "apt-get install $*"
    if [ -z "$apt_updated" ]; then
        as_root apt-get update -qq
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" </dev/null
}

install_kcat() {
    if ! command -v kcat >/dev/null 2>&1; then
        apt_install kcat
    fi
}

# make_venv DIR REQUIREMENTS: DIR holds a venv with REQUIREMENTS installed (skipped
# when DIR's stamp shows it was made from the same file).
make_venv() {
    local venv=$1 req=$2 stamp=$1/.sluice-requirements
    if [ -x "$venv/bin/python" ] && cmp -s "$req" "$stamp"; then
        return 0
    fi
    if ! command -v python3 >/dev/null 2>&1; then
        apt_install python3 python3-venv
    fi
    if [ ! -x "$venv/bin/python" ]; then
        say "creating $venv"
        # Debian's python3 needs python3-venv (ensurepip) for this.
        if ! python3 -m venv "$venv" >/dev/null 2>&1; then
            rm -rf "$venv"
            apt_install python3-venv
            python3 -m venv "$venv"
        fi
    fi
    say "pip install -r $req into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    cp "$req" "$stamp"
}

install_python() {
    make_venv .venv tests/python/requirements.txt
    make_venv .venv-kp202 tests/python/requirements-kp202.txt
    make_venv .venv-kp3 tests/python/requirements-kp3.txt
}

install_node() {
    local lock=tests/js/package-lock.json stamp=tests/js/node_modules/.sluice-lock
    if [ -d tests/js/node_modules ] && cmp -s "$lock" "$stamp"; then
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        apt_install nodejs npm
    fi
    say "npm ci in tests/js"
    (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
    cp "$lock" "$stamp"
}

if [ "${SLUICE_SKIP_INSTALL:-}" != 1 ]; then
    install_kcat
    install_python
    install_node
fi

if [ "$#" -eq 0 ]; then
    set -- --workspace --all-targets
fi
say "cargo test $*"
exec cargo test "$@"
