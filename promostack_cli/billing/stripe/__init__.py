"""Billing's Stripe rail: everything that knows Stripe (its API, its events' shapes, its statuses' order)."""
