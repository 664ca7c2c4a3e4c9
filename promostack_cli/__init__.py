"""PromoStack: Telegram marketing toolkit for forex-signal channels."""

__version__ = "0.1.0"
