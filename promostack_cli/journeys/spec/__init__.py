"""The journey YAML format: parsing with line numbers, validation, JSON Schema and canonical dump.

A journey is a multi-step conversation the message bot runs with one user. Journeys are YAML files,
one journey per file. This package is the contract for that format; nothing here touches a database.

Format
======

.. code-block:: yaml

    journey: welcome                 # slug [a-z0-9][a-z0-9_-]{0,63}; defaults to the file name stem
    name: Welcome funnel             # required, non-empty string
    status: active                   # draft | active | stopped   (default: draft)
    re_entry: restart                # block | restart | allow     (default: block)
    inactivity_timeout: 3d           # optional duration
    triggers:                        # at least one trigger, each with exactly one key:
      - deep_link: welcome           #   [A-Za-z0-9_-]{1,64} (https://t.me/<bot>?start=welcome)
      - keyword: gold                #   one word or phrase, 1-64 characters, matched case-insensitively
      - event: stripe_payment_successful   # one of EVENTS
    steps:                           # at least one step
      - id: hello                    # [a-z0-9][a-z0-9_-]{0,63}, unique in the journey
        type: message                # message | delay | question | wait_for_reply
        text: "Hi {{ first_name }}!"

Top-level keys: ``journey``, ``name``, ``status``, ``re_entry``, ``inactivity_timeout``,
``triggers``, ``steps``. Every step has ``id`` and ``type``; the other keys depend on the type:

``message``
    ``text`` (required); ``goto``: a later step id, or ``end`` (default: the next step).
``delay``
    ``duration`` (required); ``text`` (optional, sent after the delay).
``question``
    ``text`` (required); ``choices``: 1 to 12 distinct non-empty strings, each at most 64 bytes of
    UTF-8 (they become buttons); ``strict``: true/false (default false; true requires ``choices``);
    ``save_as``: variable name ``[a-z_][a-z0-9_]{0,31}`` (not a built-in variable);
    ``validate``: text | number | email | choice (default text; ``choice`` requires ``choices``);
    ``retry_text``.
``wait_for_reply``
    ``text`` and ``timeout`` (required); ``on_timeout``: ``end`` | ``continue`` |
    ``{goto: step_id}`` (default end); ``timeout_text``; ``branches``: a list of
    ``{match: text, goto: step_id}``.

A ``goto`` may name ``end`` (unless a step has that id): the journey finishes there, completed.

Durations are a number with a unit: ``30s``, ``10m``, ``1.5h``, ``3d``; greater than zero. Bare
numbers and ``ms`` are rejected. They are kept as written (``"3d"``); ``duration_seconds`` converts.

Fields that hold text (names, ids, codes, choices, texts) take a YAML scalar as written, so
``match: yes`` is the text ``"yes"`` and ``choices: [1, 2]`` are ``"1"`` and ``"2"``.
``strict`` must be a real boolean (``true``/``false``).

Texts (``text``, ``retry_text``, ``timeout_text``) are Jinja2 templates rendered in a sandbox with
autoescape (messages use ``parse_mode=HTML``) and strict undefined variables. The variables are
``first_name``, ``last_name``, ``username``, ``tenant_name`` (BASE_VARIABLES; the tenant's display name), every ``save_as`` in the journey, and
the variables of the journey's event triggers (EVENTS). Validation rejects: syntax errors, undefined
variables, whatever :mod:`promostack_cli.text.sandbox` refuses (the same rules and limits
apply at run time: other files, macros, call blocks, blocks, recursive loops, autoescape off, Python
internals, filters and methods outside its lists), constant operations over its size limits even
in a branch that is never taken, templates that fail or hit a limit when rendered with every
variable set to ``"x"``, and texts longer than 4096 characters (as Telegram counts) rendered that way.

Errors
======

Every problem is a :class:`SpecError` printed as ``path:line: message``, where ``line`` is the
1-based line of the offending YAML node (the key for unknown keys, the value for bad values, the
step for a missing step field). All problems in a file are reported, sorted by line. A file over
MAX_FILE_BYTES, nested deeper than MAX_DEPTH or with more than MAX_STEPS steps is refused with one
problem, found before the YAML is composed (so the check costs no stack and little time).
:func:`validate_paths` adds cross-file problems: a journey slug used by two files (reported on the
second) and a deep-link code used by two *active* journeys (reported on the later one).

Canonical form
==============

:meth:`JourneySpec.to_dict` gives the canonical dict (``status`` and ``re_entry`` always present;
step keys only when the file set them, in a fixed order) and :func:`dump_yaml` its YAML;
``parse_text(dump_yaml(spec))`` gives an equal spec and dumping that again is byte-identical.
Modules
=======

:mod:`.rules` holds the tables (keys, enums, patterns, limits) that both the parser and the JSON
Schema are built from. :mod:`.model` is the parsed journey and its canonical dump;
:mod:`.loading` reads a file and composes its YAML within the limits; :mod:`.read` and
:mod:`.steps` walk the nodes; :mod:`.template_check` checks texts; :mod:`.parser` puts one file
together, :mod:`.files` checks several against each other; :mod:`.schema` is the JSON Schema.
Import from the module that defines a name; this package re-exports nothing.
"""
