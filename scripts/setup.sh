#!/usr/bin/env bash
# Shared set-up for the README commands: a virtual environment in .venv with edge-agent installed,
# and Mosquitto when it is missing and we may install it (Debian, root). Sourced, not run.
set -euo pipefail

EXTRAS="${1:-plot}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '[setup] %s\n' "$*" >&2; }

as_root_apt() {
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "installing $* with apt-get"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
        return 0
    fi
    return 1
}

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    log "error: Python 3.11 or newer is needed ($PYTHON is $("$PYTHON" -V 2>&1 || echo missing))"
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    if ! "$PYTHON" -m venv .venv 2>/dev/null; then
        rm -rf .venv
        as_root_apt python3-venv || { log "error: '$PYTHON -m venv' failed; install python3-venv"; exit 1; }
        "$PYTHON" -m venv .venv
    fi
fi
log "installing edge-agent[$EXTRAS] into .venv"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$EXTRAS]"

if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    as_root_apt mosquitto mosquitto-clients \
        || log "warning: Mosquitto is not installed and cannot be installed here (needs root and apt-get)"
fi

# The dashboard's browser test (tests/integration/test_dashboard_browser.py) drives the system's Chromium.
if [[ ",$EXTRAS," == *",dev,"* ]] && ! command -v chromedriver >/dev/null 2>&1; then
    as_root_apt chromium chromium-driver \
        || log "warning: Chromium is not installed and cannot be installed here; the browser test will be skipped"
fi

# Other MQTT engines for tests/integration/test_brokers.py (dev only): RabbitMQ's MQTT plugin on 127.0.0.1:1884
# (1883 is Mosquitto's), when RabbitMQ runs here and we are root. NATS needs nothing: the tests start their own.
if [[ ",$EXTRAS," == *",dev,"* ]] && [ "$(id -u)" = 0 ] && command -v rabbitmqctl >/dev/null 2>&1 \
        && rabbitmqctl -q status >/dev/null 2>&1; then
    RABBIT_CONF="${RABBITMQ_CONFIG_FILE:-/etc/rabbitmq/rabbitmq.conf}"
    if [ -f "$RABBIT_CONF" ] && ! grep -q '^mqtt\.listeners\.tcp\.' "$RABBIT_CONF"; then
        echo 'mqtt.listeners.tcp.local = 127.0.0.1:1884' >> "$RABBIT_CONF"  # kept when RabbitMQ restarts
    fi
    if ! (exec 3<>/dev/tcp/127.0.0.1/1884) 2>/dev/null; then
        log "enabling RabbitMQ's MQTT plugin on 127.0.0.1:1884"
        # enabling may fail to start the plugin (the running node read its config before the line above and
        # would bind 1883): it is recorded all the same; then set the listener and start the plugin
        rabbitmq-plugins -q enable rabbitmq_mqtt >/dev/null 2>&1 || true
        rabbitmqctl -q eval 'application:set_env(rabbitmq_mqtt, tcp_listeners, [{"127.0.0.1", 1884}]),
            application:ensure_all_started(rabbitmq_mqtt).' >/dev/null 2>&1 || true
        (exec 3<>/dev/tcp/127.0.0.1/1884) 2>/dev/null \
            || log "warning: could not enable RabbitMQ's MQTT plugin; test_brokers.py skips RabbitMQ"
    fi
fi
