"""A private Dovecot IMAP server for the tests: Debian's `dovecot-imapd`, started with its own
configuration on a free port, a temporary mail directory and a passwd-file of test users.
Nothing of the system's Dovecot configuration is read or changed.

Without Dovecot the tests that need it are skipped; with CI=true they fail instead.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from imap_tools import MailBoxUnencrypted

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists()
                                      else None)
IN_CI = os.environ.get("CI", "").lower() == "true"
POOL = 200


def _password(root: Path, n: int) -> str:
    return f"pw-{root.name[-8:]}-{n}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _users() -> tuple[str, str, int, int]:
    """Login user, internal user, and the uid/gid the mail files belong to.

    Dovecot runs its login processes as an unprivileged user and refuses mail uid 0: as root
    we use the accounts Debian's package creates, as anyone else our own."""
    if os.getuid() != 0:
        me = pwd.getpwuid(os.getuid())
        return me.pw_name, me.pw_name, me.pw_uid, me.pw_gid
    internal = pwd.getpwnam("dovecot")
    return "dovenull", "dovecot", internal.pw_uid, internal.pw_gid


@dataclass
class Dovecot:
    """One running server; `new_mailbox()` adds a user with an empty INBOX."""

    root: Path
    port: int
    process: subprocess.Popen[bytes]
    uid: int
    gid: int
    host: str = "127.0.0.1"
    used: int = 0

    def new_mailbox(self) -> tuple[str, str]:
        """A user of its own (from a pool written at start: Dovecot looks at its passwd-file
        at most once a second, so users added later may not be seen at once)."""
        self.used += 1
        if self.used > POOL:
            raise RuntimeError(f"more than {POOL} mailboxes in one test session")
        return f"user{self.used}", _password(self.root, self.used)

    def append(self, user: str, password: str, messages: list[bytes], *,
               folder: str = "INBOX", flags: tuple[str, ...] = ()) -> None:
        with MailBoxUnencrypted(self.host, self.port).login(user, password,
                                                            initial_folder=None) as mailbox:
            if folder != "INBOX" and not mailbox.folder.exists(folder):
                mailbox.folder.create(folder)
            for raw in messages:
                mailbox.append(raw, folder, flag_set=flags or None)

    def flags(self, user: str, password: str, folder: str = "INBOX") -> list[tuple[str, ...]]:
        with MailBoxUnencrypted(self.host, self.port).login(user, password,
                                                            initial_folder=folder) as mailbox:
            return [message.flags for message in mailbox.fetch(mark_seen=False,
                                                               headers_only=True, bulk=True)]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)


def _config(root: Path, port: int) -> str:
    login_user, internal_user, _uid, _gid = _users()
    return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = zabota-test-{port}
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_user}
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = {root}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
protocol imap {{
  mail_max_userip_connections = 200
}}
"""


def start_dovecot() -> Dovecot:
    """Start a private server (the caller stops it); skip, or fail in CI, without Dovecot."""
    if DOVECOT is None:
        message = ("Dovecot is not installed (apt-get install dovecot-imapd)")
        if IN_CI:
            pytest.fail(f"{message}: it is required in CI")
        pytest.skip(message)
    root = Path(tempfile.mkdtemp(prefix="zabota-dovecot-"))
    root.chmod(0o755)
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir()
    _login, _internal, uid, gid = _users()
    os.chown(root / "mail", uid, gid)
    with (root / "passwd").open("w") as fh:
        for n in range(1, POOL + 1):
            home = root / "mail" / f"user{n}"
            home.mkdir()
            os.chown(home, uid, gid)
            fh.write(f"user{n}:{{PLAIN}}{_password(root, n)}:{uid}:{gid}::{home}::\n")
    port = _free_port()
    conf = root / "dovecot.conf"
    conf.write_text(_config(root, port))
    with (root / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen([DOVECOT, "-c", str(conf), "-F"],
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    server = Dovecot(root=root, port=port, process=process, uid=uid, gid=gid)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(64).startswith(b"* OK"):
                    return server
        except OSError:
            time.sleep(0.1)
    log = "".join(p.read_text(errors="replace") for p in (root / "stderr.log",
                                                           root / "dovecot.log") if p.exists())
    server.stop()
    pytest.fail(f"Dovecot did not start: {log[-2000:]}")


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    server = start_dovecot()
    yield server
    server.stop()
