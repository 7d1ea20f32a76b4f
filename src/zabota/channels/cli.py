"""`zabota channels …`: long polling and webhook set-up for messenger accounts."""

from __future__ import annotations

import threading
import time
from typing import Annotated

import typer

from zabota.core.i18n import _

channels_app = typer.Typer(help="Channel accounts: Telegram polling and webhooks.",
                           no_args_is_help=True)


@channels_app.command("poll-telegram")
def poll_telegram(
    account: Annotated[list[int] | None, typer.Option(
        help="Account id to poll (repeat for several); default: every enabled Telegram "
             "account")] = None,
    timeout: Annotated[int, typer.Option(min=0, max=50, help="Long-poll seconds")] = 25,
    once: Annotated[bool, typer.Option(help="One getUpdates call per account, then exit")] = False,
    delete_webhook: Annotated[bool, typer.Option(
        help="Remove the bot's webhook first (Telegram refuses getUpdates while one is set)",
    )] = False,
) -> None:
    """Take Telegram updates by long polling, for installations without a public HTTPS
    address. Runs until stopped; one thread per bot."""
    from zabota.channels import hooks, service
    from zabota.channels.telegram import polling
    from zabota.core.db import get_database
    from zabota.core.logging import configure_logging
    from zabota.core.settings import get_settings
    from zabota.tickets.models import Channel

    configure_logging()
    settings, database = get_settings(), get_database()
    with database.read_sessions() as session:
        for account_id in account or ():
            hooks.account_of(session, Channel.TELEGRAM, account_id)  # a typo fails here
        ids = account or [a.id for a in service.list_accounts(session, Channel.TELEGRAM,
                                                              enabled_only=True)]
    if not ids:
        typer.echo(_("No enabled Telegram account."), err=True)
        raise typer.Exit(1)
    if delete_webhook:
        for account_id in ids:
            polling.delete_webhook(database, account_id)
    stop = threading.Event()
    failed: set[int] = set()

    def run(account_id: int) -> None:
        while not stop.is_set():
            try:
                result = polling.poll_once(database, account_id, settings=settings,
                                           timeout=0 if once else timeout)
            except Exception as exc:  # the network or Telegram: say so, wait, go on
                typer.echo(f"Telegram account {account_id}: {exc}", err=True)
                if once:
                    failed.add(account_id)
                    return
                stop.wait(10)
                continue
            typer.echo(f"Telegram account {account_id}: {result.handled} update(s)")
            if once:
                return
            if result.must_wait:
                stop.wait(5)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in ids]
    for thread in threads:
        thread.start()
    try:
        while any(thread.is_alive() for thread in threads):
            time.sleep(0.5)
    except KeyboardInterrupt:
        stop.set()
    if failed:
        raise typer.Exit(1)


@channels_app.command("set-telegram-webhook")
def set_telegram_webhook(
    account: Annotated[int, typer.Option(help="Telegram account id")],
    base_url: Annotated[str, typer.Option(
        help="Public HTTPS address of this installation, e.g. https://help.example.com")],
) -> None:
    """Point the bot at /api/v1/channels/telegram/{account}/webhook with a secret token (made
    and saved when the account has none)."""
    from zabota.channels.telegram import polling
    from zabota.core.db import get_database

    url = f"{base_url.rstrip('/')}/api/v1/channels/telegram/{account}/webhook"
    polling.set_webhook(get_database(), account, url)
    typer.echo(f"Webhook set: {url}")
