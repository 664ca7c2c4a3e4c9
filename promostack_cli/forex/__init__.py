"""Forex signals: candles from Twelve Data, strategies on pandas-ta indicators, the signal lifecycle,
briefings, recaps, analytics and backtests. pandas and pandas-ta load only inside forex commands."""
