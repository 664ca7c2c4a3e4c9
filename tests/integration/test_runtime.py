"""TenantRuntime and BotCredentialResolver: the tenant-scoped entry to credentials and clients."""

import pytest

from promostack_cli.connections.credentials import BotCredentialResolver
from promostack_cli.core.errors import BotNotConfiguredError
from promostack_cli.runtime import TenantRuntime
from promostack_cli.settings import Settings
from tests.conftest import SIGNAL_TOKEN
from tests.factories import connect_bot


def test_resolver_decrypts_and_names_what_to_run(db, box, tenant_id):
    resolver = BotCredentialResolver(tenant_id, db=db, box=box)
    with pytest.raises(BotNotConfiguredError) as exc:
        resolver.get_bot_credentials("signal_bot")
    assert str(exc.value) == ("Signal Bot not configured for tenant 'entrylab'. Run: promostack --tenant entrylab "
                              "connections set signal_bot --token <token> --vip-channel <id> --free-channel <id>")
    connect_bot(db, box, tenant_id, "signal_bot", SIGNAL_TOKEN, vip_channel="-1001000000001", free_channel="@entrylab_free")
    creds = BotCredentialResolver(tenant_id, db=db, box=box).get_bot_credentials("signal_bot")
    assert creds.token == SIGNAL_TOKEN and creds.bot_id == 7000000001
    assert creds.channels == {"vip_channel": "-1001000000001", "free_channel": "@entrylab_free"}
    assert SIGNAL_TOKEN not in repr(creds) and creds.masked_token == "7000000001:AA…01"


def test_runtime_builds_a_working_client_lazily_and_once(db, box, tenant_id, fake_tg, tmp_path):
    settings = Settings(telegram_api_url=fake_tg.base_url, data_dir=tmp_path)
    runtime = TenantRuntime(tenant_id, settings=settings, db=db, box=box)
    with pytest.raises(BotNotConfiguredError):
        runtime.telegram("signal_bot")
    connect_bot(db, box, tenant_id, "signal_bot", SIGNAL_TOKEN, vip_channel="-1001000000001", free_channel="@entrylab_free")
    runtime.credentials.invalidate()
    client = runtime.telegram("signal_bot")
    assert client is runtime.telegram("signal_bot")
    assert client.get_me()["username"] == "entrylab_signals_bot"
    runtime.close()
