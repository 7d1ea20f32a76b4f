"""Web chat: the embeddable widget's visitors, live over WebSocket, as ticket messages.

Importing the package registers the chat channel's outbound sender and the commit hook that
publishes agents' replies live. See docs/channels.md, "Web chat".
"""

from zabota.channels.chat import live, sender
from zabota.channels.chat.responders import (
    VisitorMessage,
    chat_first_responders,
    register_first_responder,
)

__all__ = ["VisitorMessage", "chat_first_responders", "live", "register_first_responder",
           "sender"]
