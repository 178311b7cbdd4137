#!/usr/bin/env bash
# `npm test`: type-check, then every unit and integration test, then the browser
# suite, inside a private D-Bus session with an unlocked gnome-keyring so keytar
# reaches a real Secret Service. The browser suite runs in its own vitest run,
# after the others: it starts Samba AD, which needs fixed LDAP ports.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json --noEmit
bash test/keyring-session.sh npx vitest run --project unit --project integration --passWithNoTests "$@"
bash test/keyring-session.sh npx vitest run --project e2e --passWithNoTests "$@"
