"""The `zabota` command: serve, worker, migrate, createadmin, demo, ml."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from typing import TYPE_CHECKING, Annotated, Any

import sqlalchemy as sa
import typer
from typer.core import TyperGroup

from zabota.bot.cli import bot_app
from zabota.channels.cli import channels_app
from zabota.core.errors import ZabotaError
from zabota.core.i18n import LANGUAGES, _, language
from zabota.core.logging import configure_logging
from zabota.core.settings import get_settings
from zabota.ml.cli import ml_app

if TYPE_CHECKING:
    from aiosmtpd.controller import Controller


def cli_language() -> str:
    """The language of the person at the terminal (POSIX locale variables), else the
    installation's default."""
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        code = os.environ.get(variable, "")[:2].lower()
        if code in LANGUAGES:
            return code
    return get_settings().default_language


class ZabotaGroup(TyperGroup):
    """Every command runs in the user's language, and a `ZabotaError` (an unknown account,
    a bad file) ends it with one line and exit code 1 rather than a traceback."""

    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click.Context
        with language(cli_language()):
            try:
                return super().invoke(ctx)
            except ZabotaError as exc:
                typer.echo(_("Error: {message}").format(message=exc.detail or _(exc.title)),
                           err=True)
                raise typer.Exit(1) from None


app = typer.Typer(cls=ZabotaGroup, help="Zabota — omnichannel customer care.",
                  no_args_is_help=True, add_completion=False)
app.add_typer(ml_app, name="ml")
app.add_typer(channels_app, name="channels")
app.add_typer(bot_app, name="bot")


@app.command()
def migrate() -> None:
    """Apply database migrations (SQLite or PostgreSQL, from ZABOTA_DATABASE_URL)."""
    from zabota.core.migrate import upgrade

    settings = get_settings()
    if settings.sqlalchemy_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.sqlalchemy_url)
    typer.echo("Migrations applied.")


@app.command()
def createadmin(
    email: Annotated[str | None, typer.Option(help="Default: ZABOTA_ADMIN_EMAIL")] = None,
    password: Annotated[str | None, typer.Option(help="Default: ZABOTA_ADMIN_PASSWORD")] = None,
    name: str = "Administrator",
    if_none: Annotated[bool, typer.Option("--if-none",
                                          help="Do nothing when an admin exists")] = False,
) -> None:
    """Create an administrator; prints the login (a generated password is shown once)."""
    from zabota.core.db import get_database
    from zabota.identity import service
    from zabota.identity.errors import EmailTaken
    from zabota.identity.models import Role, User
    from zabota.identity.permissions import SYSTEM

    settings = get_settings()
    email = email or settings.admin_email or "admin@zabota.local"
    generated = password is None and not settings.admin_password
    password = password or settings.admin_password or secrets.token_urlsafe(12)
    if len(password) < 8:
        typer.echo("The password needs at least 8 characters.", err=True)
        raise typer.Exit(2)
    with get_database().session_scope() as session:
        admin = session.scalar(sa.select(User).where(User.role == Role.ADMIN).limit(1))
        if if_none and admin is not None:
            typer.echo(f"Admin login: {admin.email} (password as set on first start; "
                       f"see {settings.data_dir / 'admin-password.txt'} if it was generated)")
            return
        try:
            service.create_user(session, email=email, name=name, role=Role.ADMIN,
                                password=password, actor=SYSTEM)
        except EmailTaken:
            typer.echo(f"A user with e-mail {email} already exists.", err=True)
            raise typer.Exit(1) from None
    if generated:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path = settings.data_dir / "admin-password.txt"
        path.touch(mode=0o600)
        path.write_text(f"{email}\n{password}\n")
    typer.echo(f"Admin login: {email} / password: {password}")


@app.command()
def demo(
    tickets: Annotated[int, typer.Option(min=1)] = 10_000,
    customers: Annotated[int, typer.Option(min=1)] = 2_000,
    days: Annotated[int, typer.Option(min=1, max=3650)] = 90,
    seed: int = 42,
    if_empty: Annotated[bool, typer.Option("--if-empty",
                                           help="Only when there are no tickets yet")] = False,
) -> None:
    """Load realistic demo data in Russian and English (teams, agents, customers, tickets)."""
    import logging

    from zabota.core.db import get_database
    from zabota.demo import LOADING, demo_state, load_demo
    from zabota.tickets.models import Ticket

    configure_logging(level=logging.WARNING)  # thousands of service log lines say nothing here
    database = get_database()
    if if_empty:
        with database.session_scope() as session:
            found = session.scalar(sa.select(sa.func.count()).select_from(Ticket))
            state = demo_state(session) if found else None
        if state is not None and state.get("state") == LOADING:
            typer.echo(
                f"Demo data: an earlier load stopped before it finished ({found} of "
                f"{state.get('tickets')} tickets); the demo is incomplete. To load it again, "
                f"stop Zabota, delete {get_settings().data_dir} and start it again.", err=True)
            return
        if found:
            typer.echo("Demo data: tickets exist already, nothing loaded.")
            return
    typer.echo(f"Loading demo data: {tickets} tickets, {customers} customers, {days} days "
               "(a few minutes on first start)…")
    summary = load_demo(database, tickets=tickets, customers=customers, days=days, seed=seed)
    typer.echo(f"Demo data loaded: {summary}")


@app.command()
def serve(
    host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
    with_worker: Annotated[bool, typer.Option(
        help="Run the job consumer inside the server process (the embedded default)")] = True,
    reload: bool = False,
    load_demo: Annotated[bool, typer.Option(
        "--load-demo", help="On an empty database, load the demo data in the background "
                            "while already serving")] = False,
) -> None:
    """Serve the web application and API."""
    import uvicorn

    configure_logging()
    smtp_receiver = _start_smtp_receiver()
    demo_loader = None
    if load_demo:
        # A separate process, so the server answers at once while tickets appear.
        demo_loader = subprocess.Popen([sys.executable, "-m", "zabota.cli", "demo",
                                        "--if-empty"])
    if with_worker and workers == 1 and not reload:
        from zabota.jobs.worker import start_embedded_consumer

        consumer = start_embedded_consumer()
        try:
            uvicorn.run("zabota.web.main:app", host=host, port=port, proxy_headers=True,
                        log_level="warning")
        finally:
            consumer.stop(graceful=True)
            _stop(demo_loader)
            if smtp_receiver is not None:
                smtp_receiver.stop()
        return
    try:
        uvicorn.run("zabota.web.main:app", host=host, port=port, workers=workers,
                    reload=reload, proxy_headers=True, log_level="warning")
    finally:
        _stop(demo_loader)
        if smtp_receiver is not None:
            smtp_receiver.stop()


def _start_smtp_receiver() -> Controller | None:
    """The built-in SMTP receiver (ZABOTA_SMTP_HOST:ZABOTA_SMTP_PORT), in a thread of the
    serving process only, so several web workers do not compete for the port."""
    settings = get_settings()
    if not settings.smtp_enabled:
        return None
    from zabota.channels.email.smtp_server import start_smtp_receiver
    from zabota.core.db import get_database

    receiver = start_smtp_receiver(settings, get_database())
    if receiver is not None:
        typer.echo(f"E-mail: the SMTP receiver listens on {settings.smtp_host}:"
                   f"{settings.smtp_port}")
    return receiver


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        process.wait(timeout=30)


@app.command()
def worker(workers: Annotated[int, typer.Option(min=1, max=64)] = 2) -> None:
    """Run the background job consumer (outbox delivery, periodic tasks)."""
    from zabota.jobs.worker import run_consumer

    configure_logging()
    run_consumer(workers=workers)


if __name__ == "__main__":
    app()
