#!/usr/bin/env bash
# The Debian packages the tests need: Chromium (browser tests; never `playwright install`),
# the brokers the connector tests start (Redis, Mosquitto for MQTT, NATS; Kafka's comes
# from pip), and Node/npm for the npm test tools (Prism).
# Installs what is missing when it can (root + apt-get); otherwise stops at once with the
# one command to run. `make test` and `.ci/run` both call this.
set -euo pipefail

# "command to look for:Debian package"
NEEDED=(
  "chromium:chromium"
  "redis-server:redis-server"
  "mosquitto:mosquitto"
  "nats-server:nats-server"
  "node:nodejs"
  "npm:npm"
)

missing=()
for pair in "${NEEDED[@]}"; do
  cmd="${pair%%:*}"
  pkg="${pair#*:}"
  # brokers live in /usr/sbin, which is not on every user's PATH
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ] && [ ! -x "/usr/bin/$cmd" ]; then
    missing+=("$pkg")
  fi
done

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
