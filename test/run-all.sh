#!/usr/bin/env bash
# `npm test`: type-check, then every unit and integration test, inside a private
# D-Bus session with an unlocked gnome-keyring so keytar reaches a real Secret Service.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json --noEmit
exec bash test/keyring-session.sh npx vitest run "$@"
