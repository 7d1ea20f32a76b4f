"""Telegram Bot API channel: webhook and long-polling intake, replies, connection test.

Importing the package registers its sender, connection test and re-ingestion hook.
"""

from zabota.channels.telegram import intake, send

__all__ = ["intake", "send"]
