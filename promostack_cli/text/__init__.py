"""Every text PromoStack sends is produced here.

Modules: :mod:`.fit` (Telegram's limits; a journey text cut and split to fit), :mod:`.sandbox` and
:mod:`.template_limits` (the bounded Jinja sandbox of journey texts, the same at validation and at
run time). Importing this package imports none of them.
"""
