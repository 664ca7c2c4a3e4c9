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
export PROMOSTACK_DATA_DIR="$DEMO_DIR" PROMOSTACK_DRY_RUN=1
source "$ROOT/examples/demo-lib.sh"  # quote, show, step, T=(--tenant demo), intro, next_steps
intro

step tenants add demo --name "Demo Gold Signals"
step "${T[@]}" connections set signal_bot --no-validate \
    --token 1000000001:AAFdemoSIGNALdemoSIGNALdemoSIGNAL01 \
    --vip-channel -1001000000001 --free-channel @demo_gold_free
step "${T[@]}" connections set message_bot --no-validate --username demo_gold_helper_bot \
    --token 1000000002:AAFdemoMESSAGEdemoMESSAGEdemoMESS02
step "${T[@]}" connections list
step journeys validate "$ROOT/examples/journeys"
step "${T[@]}" journeys import "$ROOT/examples/journeys"
step "${T[@]}" journeys link welcome
START='{"update_id": 1001, "message": {"message_id": 1, "date": 1764000000, "text": "/start welcome", "chat": {"id": 5550009, "type": "private", "first_name": "Dana"}, "from": {"id": 5550009, "is_bot": false, "first_name": "Dana", "username": "dana_fx"}}}'
inject() {  # inject UPDATE [ROLE]: a Telegram update, as the receiver would get it (printed so it pastes back)
    show "echo $(quote "$1") | promostack --tenant demo webhook inject${2:+ $2}"
    echo "$1" | "$PROMOSTACK" "${T[@]}" webhook inject ${2:+"$2"}
}
inject "$START"  # Dana opens the welcome link
step "${T[@]}" journeys sessions welcome
show "printf '#2\\nyes please\\n' | promostack --tenant demo journeys simulate welcome --var first_name=Sam"
printf '#2\nyes please\n' | "$PROMOSTACK" "${T[@]}" journeys simulate welcome --var first_name=Sam
step "${T[@]}" outbox send signal_bot --chat @demo_gold_free \
    --text $'☀️ <b>Gold morning outlook</b>\nAsian range 4522.95–4541.51. VIP members got 2 signals yesterday: +64 pips.'
step "${T[@]}" outbox send message_bot --chat 5550001 --text "Hi Sam! Welcome to <b>Demo Gold Signals</b>."
step "${T[@]}" outbox send message_bot --chat 5550001 --text "Here is today's free analysis: https://example.com/gold"
step "${T[@]}" outbox stats
# Forex signals, offline: real OANDA gold candles (tests/data/xauusd_15min.csv) instead of Twelve Data
CANDLES="$ROOT/tests/data/xauusd_15min.csv"
step "${T[@]}" forex strategies
step "${T[@]}" forex backtest --candles "$CANDLES" --timeframe 15min
step "${T[@]}" forex briefing --dry-run --candles "$CANDLES" --now 2026-05-29T06:20
# Cross promo on the FREE channel, replayed on 15 May 2026: a signal at 07:45 UTC that hits TP1 at
# 08:15, TP2 and TP3 later; the morning post (09:00 London), the VIP teaser (10:00) and the win copy
step "${T[@]}" crosspromo settings set --enabled --cta-url "https://t.me/demo_gold_helper_bot?start=welcome" \
    --timezone Europe/London --late-window 3h
step "${T[@]}" forex check --candles "$CANDLES" --now 2026-05-15T07:45:30
step "${T[@]}" forex monitor --candles "$CANDLES" --now 2026-05-15T10:30
step "${T[@]}" crosspromo schedule --days 3 --now 2026-05-15T06:00Z
step "${T[@]}" crosspromo run --candles "$CANDLES" --now 2026-05-15T10:31Z
step "${T[@]}" crosspromo jobs
step "${T[@]}" forex check --candles "$CANDLES" --now 2026-05-29T07:30:30
step "${T[@]}" forex signals
# Billing, offline: a signed Stripe checkout → link → access granted → cancellation → removal
SIGN="$ROOT/.venv/bin/python $ROOT/examples/stripe_event.py"
WHSEC=whsec_demoSigningSecret0123456789
show "export PROMOSTACK_STRIPE_WEBHOOK_SECRET=$WHSEC"
PROMOSTACK_STRIPE_WEBHOOK_SECRET="$WHSEC" step "${T[@]}" billing setup --price price_demo_monthly --name "VIP monthly" \
    --vip-link https://t.me/+demoVIPjoinRequests --grace 3d
stripe_event() {  # $1 = event file; prints and pipes it like the receiver would get it
    show "promostack --tenant demo billing inject --signature \"\$(python $(quote "$ROOT/examples/stripe_event.py") sign $(quote "$1") $WHSEC)\" --file $(quote "$1")"
    "$PROMOSTACK" "${T[@]}" billing inject --signature "$($SIGN sign "$1" "$WHSEC")" --file "$1"
}
$SIGN checkout "$DEMO_DIR/checkout.json" "$DEMO_DIR/active.json" "$DEMO_DIR/deleted.json"
stripe_event "$DEMO_DIR/checkout.json"
stripe_event "$DEMO_DIR/active.json"
step "${T[@]}" billing subscriptions
LINK="$("$PROMOSTACK" "${T[@]}" billing link dana@example.com --json)"
show "promostack --tenant demo billing link dana@example.com --json"
printf '%s\n' "$LINK" >&2
PAYLOAD="$(echo "$LINK" | "$ROOT/.venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["start_payload"])')"
# Dana opens the billing link, then asks to join the VIP channel
inject '{"update_id": 1002, "message": {"message_id": 2, "date": 1764000100, "text": "/start '"$PAYLOAD"'", "chat": {"id": 5550009, "type": "private", "first_name": "Dana"}, "from": {"id": 5550009, "is_bot": false, "first_name": "Dana"}}}'
inject '{"update_id": 2001, "chat_join_request": {"chat": {"id": -1001000000001, "type": "channel", "title": "VIP"}, "from": {"id": 5550009, "is_bot": false, "first_name": "Dana"}, "user_chat_id": 5550009, "date": 1764000200}}' signal_bot
stripe_event "$DEMO_DIR/deleted.json"
step "${T[@]}" billing show dana@example.com
step "${T[@]}" scheduler tick
step "${T[@]}" outbox list
next_steps
