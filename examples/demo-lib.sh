# The demo's helpers (sourced by examples/demo.sh; tests/acceptance/test_first_hour_journeys.py runs them):
# every command is printed as a line that can be pasted back into a shell, then run exactly so.
# Needs PROMOSTACK (the promostack to run), ROOT (the repository) and DEMO_DIR (the demo's data directory).
ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
PROMOSTACK="${PROMOSTACK:-$ROOT/.venv/bin/promostack}"
DEMO_DIR="${DEMO_DIR:-$ROOT/.demo}"
T=(--tenant demo)  # every command names its tenant, so a printed line works when pasted

quote() {  # the arguments as one shell line to paste back: plain words as they are, others quoted
    local arg out=()
    for arg in "$@"; do
        if [[ -n "$arg" && "$arg" =~ ^[A-Za-z0-9_./:@%+=,-]+$ ]]; then out+=("$arg"); else out+=("${arg@Q}"); fi
    done
    printf '%s' "${out[*]}"
}
show() { printf '\n\033[1m$ %s\033[0m\n' "$*" >&2; }   # a command line as the user would type it
step() { show "promostack $(quote "$@")"; "$PROMOSTACK" "$@"; }

intro() {
cat >&2 <<EOF
PromoStack demo: every command below runs as printed. To paste one yourself, first run:
  export PATH="$(dirname "$PROMOSTACK"):\$PATH" PROMOSTACK_DATA_DIR=$(quote "$DEMO_DIR") PROMOSTACK_DRY_RUN=1
EOF
}

next_steps() {  # where to go from here, as exact commands
local DATA; DATA=$(quote "$DEMO_DIR")
cat >&2 <<EOF

Demo data lives in $DATA (delete it freely). Nothing was sent: PROMOSTACK_DRY_RUN=1.

Next steps:
  1. Look at the demo database (every command above works the same way):
       export PATH="$(dirname "$PROMOSTACK"):\$PATH"
       PROMOSTACK_DATA_DIR=$DATA promostack --tenant demo journeys sessions welcome
       PROMOSTACK_DATA_DIR=$DATA promostack --tenant demo outbox list
  2. Connect a real bot (a token from @BotFather; PROMOSTACK_PUBLIC_URL is the HTTPS address Telegram calls):
       export PROMOSTACK_PUBLIC_URL=https://bots.example.com
       promostack tenants add mybrand --name 'My Brand'
       promostack --tenant mybrand connections set message_bot --token '<token from @BotFather>'
       promostack --tenant mybrand journeys import $(quote "$ROOT/examples/journeys")
       promostack webhook serve --host 127.0.0.1 --port 8080
  3. Install cron (outbox delivery, journey timers, forex): set PROMO= in crontab.example, then
       (crontab -l 2>/dev/null; cat $(quote "$ROOT/crontab.example")) | crontab -
EOF
}
