"""Channels: every way customers reach us, each turning deliveries into normalised messages
(`inbound`) and sending replies (`outbound`)."""

from __future__ import annotations

import importlib

ADAPTERS = ("email", "telegram", "vk", "whatsapp", "phone", "chat")


def load_adapters() -> None:
    """Import every channel package, which registers its sender, connection test and
    re-ingestion hook. The web app and the worker call it at start."""
    for name in ADAPTERS:
        importlib.import_module(f"zabota.channels.{name}")
