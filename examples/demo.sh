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
step scheduler tick
step outbox list
printf '\nDemo data lives in %s (delete it freely). Nothing was sent: PROMOSTACK_DRY_RUN=1.\n' "$DEMO_DIR" >&2
