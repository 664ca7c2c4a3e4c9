"""Cron's work, one shape: every domain declares steps (``promostack_cli/<domain>/domain.py``), and
:mod:`jobs.runner` runs a group of them once, or every ``--loop`` interval until ``--for`` ends.

``scheduler tick`` runs the group ``tick``, ``forex tick`` the group ``forex``, ``crosspromo run``
cross promo's step: the same runner, the same due checks, the same report. Nothing here imports a
domain; the steps are named by the declarations and loaded by :mod:`jobs.tick`.
"""
