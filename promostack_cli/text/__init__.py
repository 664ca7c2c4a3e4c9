"""Every text PromoStack sends is produced here: templates, the helpers that show figures, and fitting to
Telegram's limits.

The seam is one call, ``writer.write(kind, facts, *, limit=MESSAGE) -> Text``:

* ``kind`` names the post: forex's ``signal``, ``update``, ``briefing``, ``daily_recap``,
  ``weekly_recap``; cross promo's ``morning_news``, ``teaser``, ``win``, ``win_update``. A domain
  lists its kinds and their built-in templates in a :class:`~.writer.Catalog`
  (``forex.messages.TEXTS``, ``crosspromo.posts.TEXTS``).
* ``facts`` (:class:`~.facts.Facts`) is the data the post is built from, by the names its template
  uses, with the :class:`~.facts.Numbers` that show its figures (prices at the instrument's precision,
  pips, signed figures, percentages, result labels). A writer gets nothing else: a figure a text can
  state is one of these, shown this way.
* ``limit``: :data:`~.fit.MESSAGE` (4,096) or :data:`~.fit.CAPTION` (1,024, a photo's caption), counted
  as Telegram counts (:mod:`.fit`). A text over it raises :class:`~.fit.TooLong`.
* The :class:`~.writer.Text` it returns holds the text, its ``source`` (``"template"``) and a ``note``
  saying why another writer's text was not used.

Writers are called **outside database transactions**: a caller reads the facts, writes the text,
then stores its change and queues the message in one transaction. A writer may therefore be slow (an
HTTP call) without holding a lock. Where the text names a row that does not exist yet (a signal's
``#id``), the caller reserves the id first.

:func:`~.writer.writer_for` chooses a tenant's writer; today the :class:`~.writer.TemplateWriter`:
the catalog's templates, each replaceable by a file of the same name in the tenant's ``templates_dir``.
An AI writer (issue 21) implements the same ``write``: it receives the same facts, asks the model,
checks the answer (:func:`~.fit.refusal` for HTML and length; every number against the facts as
:class:`~.facts.Numbers` shows them) and, when the check fails twice, returns the template writer's
text with ``note`` saying why. ``writer_for`` is the one place that picks it.

Modules: :mod:`.writer` (the interface, the template writer), :mod:`.facts` (facts and number
formats), :mod:`.templates` (the Jinja environments of posts: built-in templates, a tenant's
overrides, one-line errors), :mod:`.fit` (Telegram's limits; a journey text cut and split to fit),
:mod:`.sandbox` and :mod:`.template_limits` (the bounded Jinja sandbox of journey texts, the same at
validation and at run time). Importing this package imports none of them.
"""
