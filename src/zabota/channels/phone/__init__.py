"""Phone channel: a PBX connector reports calls; calls become messages and call-back tickets.

Importing the package registers its connection test and re-ingestion hook (calls have no way
back, so there is no sender).
"""

from zabota.channels.phone import calls

__all__ = ["calls"]
