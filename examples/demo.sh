#!/usr/bin/env bash
# PromoStack dry-run demo on the embedded SQLite database: no bot tokens, no network.
# Run it with ./dev demo (which sets up .venv first). Forex steps read bundled real candles. It uses a throwaway data directory,
# so your real database (PROMOSTACK_DATA_DIR / PROMOSTACK_DATABASE_URL) is never touched.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROMOSTACK="${PROMOSTACK:-$ROOT/.venv/bin/promostack}"
DEMO_DIR="${DEMO_DIR:-$ROOT/.demo}"

rm -rf "$DEMO_DIR"
# Only the demo's own settings: a stray .env or PROMOSTACK_* variable must not redirect it.
for var in $(env | grep -o '^PROMOSTACK_[A-Z_]*' || true); do unset "$var"; done
export PROMOSTACK_DATA_DIR="$DEMO_DIR" PROMOSTACK_DRY_RUN=1 PROMOSTACK_TENANT=demo

step() { printf '\n\033[1m$ promostack %s\033[0m\n' "$*" >&2; "$PROMOSTACK" "$@"; }

step tenants add demo --name "Demo Gold Signals"
step connections set signal_bot --no-validate \
    --token 1000000001:AAFdemoSIGNALdemoSIGNALdemoSIGNAL01 \
    --vip-channel -1001000000001 --free-channel @demo_gold_free
step connections set message_bot --no-validate --username demo_gold_helper_bot \
    --token 1000000002:AAFdemoMESSAGEdemoMESSAGEdemoMESS02
step connections list
step journeys validate "$ROOT/examples/journeys"
step journeys import "$ROOT/examples/journeys"
step journeys link welcome
START='{"update_id": 1001, "message": {"message_id": 1, "date": 1764000000, "text": "/start welcome",
  "chat": {"id": 5550009, "type": "private", "first_name": "Dana"},
  "from": {"id": 5550009, "is_bot": false, "first_name": "Dana", "username": "dana_fx"}}}'
printf '\n\033[1m$ echo <a /start welcome update from Dana> | promostack webhook inject\033[0m\n' >&2
echo "$START" | "$PROMOSTACK" webhook inject
step journeys sessions welcome
printf '\n\033[1m$ printf "#2\\nyes please\\n" | promostack journeys simulate welcome --var first_name=Sam\033[0m\n' >&2
printf '#2\nyes please\n' | "$PROMOSTACK" journeys simulate welcome --var first_name=Sam
step outbox send signal_bot --chat @demo_gold_free \
    --text $'☀️ <b>Gold morning outlook</b>\nAsian range 4522.95–4541.51. VIP members got 2 signals yesterday: +64 pips.'
step outbox send message_bot --chat 5550001 --text "Hi Sam! Welcome to <b>Demo Gold Signals</b>."
step outbox send message_bot --chat 5550001 --text "Here is today's free analysis: https://example.com/gold"
step outbox stats
# Forex signals, offline: real OANDA gold candles (tests/data/xauusd_15min.csv) instead of Twelve Data
CANDLES="$ROOT/tests/data/xauusd_15min.csv"
step forex strategies
step forex backtest --candles "$CANDLES" --timeframe 15min
step forex briefing --dry-run --candles "$CANDLES" --now 2026-05-29T06:20
# Cross promo on the FREE channel, replayed on 15 May 2026: a signal at 07:45 UTC that hits TP1 at
# 08:15, TP2 and TP3 later; the morning post (09:00 London), the VIP teaser (10:00) and the win copy
step crosspromo settings set --enabled --cta-url "https://t.me/demo_gold_helper_bot?start=welcome" \
    --timezone Europe/London --late-window 3h
step forex check --candles "$CANDLES" --now 2026-05-15T07:45:30
step forex monitor --candles "$CANDLES" --now 2026-05-15T10:30
step crosspromo schedule --days 3 --now 2026-05-15T06:00Z
step crosspromo run --candles "$CANDLES" --now 2026-05-15T10:31Z
step crosspromo jobs
step forex check --candles "$CANDLES" --now 2026-05-29T07:30:30
step forex signals
# Billing, offline: a signed Stripe checkout → link → access granted → cancellation → removal
SIGN="$ROOT/.venv/bin/python $ROOT/examples/stripe_event.py"
WHSEC=whsec_demoSigningSecret0123456789
PROMOSTACK_STRIPE_WEBHOOK_SECRET="$WHSEC" step billing setup --price price_demo_monthly --name "VIP monthly" \
    --vip-link https://t.me/+demoVIPjoinRequests --grace 3d
stripe_event() {  # $1 = event file; prints and pipes it like the receiver would get it
    printf '\n\033[1m$ promostack billing inject --signature "t=…,v1=…" < %s\033[0m\n' "$(basename "$1")" >&2
    "$PROMOSTACK" billing inject --signature "$($SIGN sign "$1" "$WHSEC")" --file "$1"
}
$SIGN checkout "$DEMO_DIR/checkout.json" "$DEMO_DIR/active.json" "$DEMO_DIR/deleted.json"
stripe_event "$DEMO_DIR/checkout.json"
stripe_event "$DEMO_DIR/active.json"
step billing subscriptions
LINK="$("$PROMOSTACK" billing link dana@example.com --json)"
printf '\n\033[1m$ promostack billing link dana@example.com\033[0m\n%s\n' "$LINK" >&2
PAYLOAD="$(echo "$LINK" | "$ROOT/.venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["start_payload"])')"
printf '\n\033[1m$ echo <Dana opens the link: /start %s> | promostack webhook inject\033[0m\n' "$PAYLOAD" >&2
echo '{"update_id": 1002, "message": {"message_id": 2, "date": 1764000100, "text": "/start '"$PAYLOAD"'",
  "chat": {"id": 5550009, "type": "private", "first_name": "Dana"},
  "from": {"id": 5550009, "is_bot": false, "first_name": "Dana"}}}' | "$PROMOSTACK" webhook inject
printf '\n\033[1m$ echo <Dana asks to join the VIP channel> | promostack webhook inject signal_bot\033[0m\n' >&2
echo '{"update_id": 2001, "chat_join_request": {"chat": {"id": -1001000000001, "type": "channel", "title": "VIP"},
  "from": {"id": 5550009, "is_bot": false, "first_name": "Dana"}, "user_chat_id": 5550009, "date": 1764000200}}' \
  | "$PROMOSTACK" webhook inject signal_bot
stripe_event "$DEMO_DIR/deleted.json"
step billing show dana@example.com
step scheduler tick
step outbox list
printf '\nDemo data lives in %s (delete it freely). Nothing was sent: PROMOSTACK_DRY_RUN=1.\n' "$DEMO_DIR" >&2
