"""The e-mail channel: parsing, ingestion (IMAP polling, the built-in SMTP receiver),
replies over SMTP. Importing the package registers its sender, connection test and
re-ingestion of quarantined mail."""

from zabota.channels.email import connection, ingest, send  # noqa: F401 - registrations
