"""Billing's Stripe rail: everything that knows Stripe (its API, its events' shapes, its statuses' order).

Nothing outside this package imports the ``stripe`` library or reads a Stripe object; the
source-neutral billing code asks the rail what it needs through :mod:`promostack_cli.billing.sources`,
and :mod:`.source` is the rail's side of that seam.
"""
