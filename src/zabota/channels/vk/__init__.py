"""VK channel (Callback API): community messages in, replies through `messages.send`.

Importing the package registers its sender, connection test and re-ingestion hook.
"""

from zabota.channels.vk import intake, send

__all__ = ["intake", "send"]
