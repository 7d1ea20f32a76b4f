"""ASGI entry point: `uvicorn zabota.web.main:app`."""

from zabota.core.logging import configure_logging
from zabota.web.app import create_app

configure_logging()
app = create_app()
