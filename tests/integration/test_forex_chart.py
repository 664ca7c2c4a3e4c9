"""The cumulative-pips chart drawn by matplotlib (Agg), in this process. Here, not in tests/unit: the
first import of matplotlib on a machine builds its font cache (files, and ``fc-list`` where matplotlib
searches the system's fonts). The pure pieces (the curve, the time format) are unit-tested."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def test_the_plot_labels_time_in_utc_with_the_year():
    from promostack_cli.forex.metrics import Closed, figure

    t0 = datetime(2026, 5, 10, 8, tzinfo=UTC)
    trades = [Closed(t0 + timedelta(days=d), t0 + timedelta(days=d, hours=3), 10.0 - d, 1, "tp3") for d in range(8)]
    fig = figure(trades, "t")
    import matplotlib.pyplot as plt   # after figure(): the product sets matplotlib up before its first import

    try:
        ax = fig.axes[0]
        fig.canvas.draw()
        labels = [lbl.get_text() for lbl in ax.get_xticklabels() if lbl.get_text()]
        assert ax.get_xlabel() == "Time (UTC)"
        assert labels and all(lbl.startswith("2026-05-") and len(lbl) == 10 for lbl in labels)
        assert list(ax.lines[0].get_ydata())[:2] == [0.0, 10.0]   # starts at 0 when the first signal opened
    finally:
        plt.close(fig)


def test_a_short_curve_labels_hours_in_utc():
    from promostack_cli.forex.metrics import Closed, figure

    t0 = datetime(2026, 5, 10, 22, tzinfo=UTC)   # 22:00 UTC is 00:00 the next day in UTC+2: labels must not move
    trades = [Closed(t0 + timedelta(hours=h), t0 + timedelta(hours=h + 1), 5.0, 1, "tp3") for h in range(6)]
    fig = figure(trades, "t")
    import matplotlib.pyplot as plt   # after figure(): the product sets matplotlib up before its first import

    try:
        fig.canvas.draw()
        labels = [lbl.get_text() for lbl in fig.axes[0].get_xticklabels() if lbl.get_text()]
        assert labels and all(len(lbl) == 16 for lbl in labels), labels
        assert any(lbl.startswith("2026-05-10 2") for lbl in labels) and "2026-05-11 00:00" in labels, labels
    finally:
        plt.close(fig)
