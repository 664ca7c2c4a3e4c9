"""A domain that exists only in the tests: wired in by one line (``PACKAGES``), nothing else."""

from promostack_cli.core.domain import WORK, Command, Domain, Step

DOMAIN = Domain(
    "extra",
    commands=(Command("extra", "tests.data.extra_domain.parts:app", "Extra: a domain the tests add."),),
    handlers="tests.data.extra_domain.parts:register",
    steps=(Step("extra.count", "tests.data.extra_domain.parts:CountStep", "tests.data.extra_domain.parts:count_due",
                WORK),),
    routes="tests.data.extra_domain.parts:routes",
)
