"""Fixtures of the e-mail channel tests."""

from tests.channels.email.dovecot import dovecot  # noqa: F401 - a fixture
