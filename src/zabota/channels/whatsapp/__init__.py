"""WhatsApp Cloud API channel: signed webhook notifications in, replies through the Graph API.

Importing the package registers its sender, connection test and re-ingestion hook.
"""

from zabota.channels.whatsapp import intake, send

__all__ = ["intake", "send"]
