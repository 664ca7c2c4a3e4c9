"""Cross promo: the FREE channel schedule, win copies, the job queue and attribution."""
