from promostack_cli.main import run

run()
