"""``promostack scheduler tick``: cron's entry into every domain's due work, as a list of steps."""
