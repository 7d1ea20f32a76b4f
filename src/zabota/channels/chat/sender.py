"""The outbound sender of the chat channel (the durable path of an agent's reply), and the
chat account's connection test.

Most replies were already heard live (`live.py`) and this only confirms it. A reply nobody
heard is published again (the visitor may be back); if the visitor is still away and left an
e-mail address, the reply goes by e-mail instead, with the ticket number in the subject so
that their answer continues the same ticket. Otherwise it waits in the transcript, which the
widget shows when the visitor returns.
"""

from __future__ import annotations

import mimetypes

import sqlalchemy as sa
import structlog

from zabota.channels.chat import live, service
from zabota.channels.models import ChannelAccount, OutboundDelivery
from zabota.channels.outbound import Outgoing, register_sender
from zabota.channels.service import register_connection_test
from zabota.core import mailer
from zabota.core.db import get_database
from zabota.core.i18n import _, language
from zabota.core.settings import Settings
from zabota.identity import service as identity
from zabota.tickets.models import Channel, Message, Ticket

log = structlog.get_logger()


@register_sender(Channel.CHAT)
def send_chat_reply(job: Outgoing, settings: Settings) -> str | None:
    hub, live_settings = live.current()
    with get_database().read_sessions() as session:
        message_id = session.scalar(sa.select(OutboundDelivery.message_id)
                                    .where(OutboundDelivery.id == job.delivery_id))
        if message_id is None:
            return None
        if hub.was_live(message_id):
            return f"chat:{message_id}"
        message = session.get_one(Message, message_id)
        frame = service.message_frames(session, [message], visitor_id=job.recipient,
                                       settings=live_settings)[0]
        email = service.visitor_email(session, job.ticket_id)
        ticket = session.get_one(Ticket, job.ticket_id)
        team_email = identity.get_team(session, ticket.team_id).email if ticket.team_id else None
        visitor_language = ticket.language or job.customer_language or settings.default_language
    if live.publish_to_visitor(hub, job.recipient, {"type": "message", "message": frame}):
        hub.mark_live(message_id)
        return f"chat:{message_id}"
    if not email:
        log.info("chat.reply_waits_for_visitor", ticket_id=job.ticket_id)
        return f"chat:{message_id}"
    sender = team_email or settings.mail_from
    with language(visitor_language):
        subject = f"[#{job.ticket_id}] {job.ticket_subject}"
        text = "\n\n".join([job.text, "—", _(
            "You wrote to us in the chat on our website and had left when we answered. "
            "Reply to this e-mail to continue the conversation.")])
    email_message = mailer.build_message(email, subject, text, sender=sender,
                                         message_id=mailer.make_message_id(sender))
    for file in job.files:
        maintype, _sep, subtype = (file.content_type or mimetypes.guess_type(file.filename)[0]
                                   or "application/octet-stream").partition("/")
        email_message.add_attachment(file.path.read_bytes(), maintype=maintype,
                                     subtype=subtype or "octet-stream", filename=file.filename)
    mailer.deliver(email_message, settings)  # raises on SMTP trouble: the delivery retries
    log.info("chat.reply_sent_by_email", ticket_id=job.ticket_id)
    return str(email_message["Message-ID"])


@register_connection_test(Channel.CHAT)
def check_chat_account(account: ChannelAccount) -> str:
    """A chat account has nothing to connect to: it is ready when the widget can name it."""
    if not account.address:
        raise ValueError(_("Give the account an address: the widget names it in "
                           "data-zabota-team"))
    if not account.enabled:
        raise ValueError(_("The account is switched off"))
    return _("Ready: embed the widget with data-zabota-team=\"{key}\"").format(
        key=account.address)
