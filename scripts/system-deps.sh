#!/usr/bin/env bash
# The Debian packages `make` needs, checked before anything else is installed.
#
#   scripts/system-deps.sh demo   what `make demo` needs: Python's venv module, and Node/npm
#                                 (the package build bundles the output grid's front-end)
#   scripts/system-deps.sh test   (default) what `make test` needs as well: Chromium (browser
#                                 tests; never `playwright install`) and the brokers the connector
#                                 tests start (Redis, Mosquitto for MQTT, NATS; Kafka's comes
#                                 from pip)
#
# Missing packages are installed when this runs as root with apt-get; otherwise it stops at
# once and prints the one command to run. `make demo`, `make test` and so `.ci/run` use it.
set -euo pipefail

PY="${PY:-python3}"
missing=()

# need COMMAND PACKAGE: PACKAGE provides COMMAND (brokers live in /usr/sbin, not on every PATH)
need() {
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$1" ]; then
    missing+=("$2")
  fi
}

# Debian splits venv/ensurepip out of python3
if ! "$PY" -c "import ensurepip, venv" >/dev/null 2>&1; then
  missing+=("python3-venv")
fi
need node nodejs
need npm npm
if [ "${1:-test}" = "test" ]; then
  need chromium chromium
  need redis-server redis-server
  need mosquitto mosquitto
  need nats-server nats-server
fi

[ ${#missing[@]} -eq 0 ] && exit 0

install="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  $install -qq >/dev/null
  exit 0
fi
echo "system-deps: missing ${missing[*]}; install them first:" >&2
echo "    sudo apt-get update && sudo $install" >&2
exit 1
