"""The "test connection" button of an e-mail account: sign in to IMAP and SMTP as polling and
sending will."""

from __future__ import annotations

from zabota.channels import service as channels
from zabota.channels.email import imap
from zabota.channels.email.send import check_smtp
from zabota.channels.models import ChannelAccount
from zabota.core.i18n import _
from zabota.core.settings import get_settings
from zabota.tickets.models import Channel


@channels.register_connection_test(Channel.EMAIL)
def check_connection(account: ChannelAccount) -> str:
    """A readable OK, or an exception with the server's reason."""
    settings = get_settings()
    config = account.config or {}
    found: list[str] = []
    if config.get("imap_host"):
        mailbox_config = imap.MailboxConfig.from_account(account)
        mailbox = imap.connect(mailbox_config, settings)
        try:
            waiting = len(mailbox.uids(mailbox_config.unprocessed))
            mailbox.logout()
        finally:
            imap.close(mailbox)
        found.append(_("IMAP: signed in to {host}, {count} new messages in {folder}").format(
            host=mailbox_config.host, count=waiting, folder=mailbox_config.folder))
    else:
        found.append(_("No IMAP server: mail arrives through the built-in SMTP receiver"))
    found.append(check_smtp(account, settings))
    return ". ".join(found) + "."  # each part is a sentence of its own
