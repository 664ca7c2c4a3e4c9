"""The receiver's router, built from every domain's ``register(router)`` in the domains' order, and
the :class:`Dispatcher` that gives each handler its context.

The receiver, ``scheduler tick`` (stored updates a receiver left), ``webhook inject`` and
``webhook retry`` all process updates through one Dispatcher made at their edge with the settings
and secret box they were given.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from promostack_cli.telegram.routing import Handled, Router, UpdateContext
from promostack_cli.telegram.updates import Update


def build_router() -> Router:
    from promostack_cli.core.domain import load
    from promostack_cli.domains import domains

    router = Router()
    for domain in domains():
        if domain.handlers:
            load(domain.handlers)(router)
    return router


@cache
def default_router() -> Router:
    return build_router()


class Dispatcher:
    """Runs a parsed update through the router with the edge's settings and secret box."""

    def __init__(self, settings, box=None, router: Router | None = None):
        if box is None:  # a dry-run tick has no box; billing's handlers read the settings it encrypts
            from promostack_cli.core.secrets import secret_box_for

            box = secret_box_for(settings)
        self.settings, self.box = settings, box
        self.router = router or default_router()

    def dispatch(self, session, update: Update, now: datetime) -> Handled:
        return self.router.dispatch(UpdateContext(session, update, now, self.settings, self.box))

    def dispatch_many(self, session, updates: list[Update], now: datetime) -> list[Handled]:
        """:meth:`dispatch` for each of ``updates``: one bot's, independent of each other (one run of
        :func:`~promostack_cli.telegram.routing.waves`), in one transaction."""
        return self.router.dispatch_many([UpdateContext(session, u, now, self.settings, self.box) for u in updates])
