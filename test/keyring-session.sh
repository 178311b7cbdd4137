#!/usr/bin/env bash
# Runs a command inside a private D-Bus session with an unlocked gnome-keyring,
# so keytar (libsecret) has a Secret Service to talk to and nothing ever lands
# in the real user's keyring. HOME, XDG_* and XDG_RUNTIME_DIR point at a
# throw-away directory that is removed afterwards.
#
#   test/keyring-session.sh npx vitest run test/integration/keychain.test.ts
#
# Needs the Debian packages dbus and gnome-keyring.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 64
fi
for tool in dbus-run-session gnome-keyring-daemon; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "keyring-session: '$tool' not found (apt-get install dbus gnome-keyring)" >&2
    exit 69
  fi
done

session_dir="$(mktemp -d "${TMPDIR:-/tmp}/rolecall-keyring-XXXXXX")"
trap 'rm -rf "$session_dir"' EXIT
mkdir -p -m 700 "$session_dir/run" "$session_dir/config" "$session_dir/data" "$session_dir/cache"

export HOME="$session_dir"
export XDG_RUNTIME_DIR="$session_dir/run"
export XDG_CONFIG_HOME="$session_dir/config"
export XDG_DATA_HOME="$session_dir/data"
export XDG_CACHE_HOME="$session_dir/cache"
# Tells the keychain tests they are inside this throw-away keyring, so they may write to it.
export ROLECALL_TEST_KEYRING=1
# A fresh HOME makes npm want to announce updates on every run.
export NPM_CONFIG_UPDATE_NOTIFIER=false
# Never reach an outer session bus or keyring by accident.
unset DBUS_SESSION_BUS_ADDRESS DISPLAY WAYLAND_DISPLAY GNOME_KEYRING_CONTROL

# Inside the bus: start and unlock the keyring daemon (its password only
# protects this temp dir), wait until it owns org.freedesktop.secrets (else
# keytar's first call would D-Bus-activate a second, locked daemon), run the
# command, then stop exactly that daemon so it cannot outlive the session.
# shellcheck disable=SC2016 # expanded by the inner shell
dbus-run-session -- bash -c '
  set -uo pipefail
  printf "rolecall-test" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  keyring_pid=""
  for _ in $(seq 1 100); do
    reply="$(dbus-send --session --print-reply --dest=org.freedesktop.DBus / \
      org.freedesktop.DBus.GetConnectionUnixProcessID string:org.freedesktop.secrets 2>/dev/null)"
    keyring_pid="$(printf "%s" "$reply" | awk "/uint32/ {print \$2}")"
    [ -n "$keyring_pid" ] && break
    sleep 0.05
  done
  if [ -z "$keyring_pid" ]; then
    echo "keyring-session: gnome-keyring did not appear on the session bus" >&2
    exit 70
  fi
  "$@"
  status=$?
  kill "$keyring_pid" 2>/dev/null || true
  exit "$status"
' keyring-session "$@"
# (stderr is passed through untouched: filtering it through a process
# substitution lost the end of vitest's failure report when the script exited.)
