"""The extra domain's CLI sub-app, update handler, tick step with its due check, and receiver route."""

import typer

from promostack_cli.telegram.routing import Handled

app = typer.Typer(help="Extra: a domain the tests add.", no_args_is_help=True)
calls: list = []


@app.command("hello")
def hello(name: str = typer.Argument("world")) -> None:
    """Say hello."""
    from promostack_cli import context as ctx

    typer.echo(f"hello {name} (tenant {ctx.options.tenant})")


@app.command("bye")
def bye() -> None:
    """Say bye."""


def on_ping(c):
    return Handled(f"pong from extra, tenant {c.tenant_id}, settings {c.settings}")


def register(router) -> None:
    router.command("ping", on_ping, private=True)


class CountStep:
    name = "extra.count"
    keys = ("counted",)

    def __init__(self, context):
        self.context = context

    def __call__(self, now, deadline):
        calls.append(now)
        return {"counted": 1}

    def describe(self, counts):
        return f"{counts.get('counted', 0)} counted"

    def close(self):
        pass


def count_due(conn, now, deadline, tenant_id=None) -> bool:
    return True


def routes(receiver):
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def extra(request):
        return PlainTextResponse(f"extra served by {type(receiver).__name__}")

    return [Route("/extra", extra, methods=["GET"])]
