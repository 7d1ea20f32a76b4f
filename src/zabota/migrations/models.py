"""Import every model module so Base.metadata knows all tables."""


def load_all_models() -> None:
    from zabota.automation import models as automation_models  # noqa: F401
    from zabota.bot import models as bot_models  # noqa: F401
    from zabota.channels import models as channel_models  # noqa: F401
    from zabota.core import idempotency, outbox, site  # noqa: F401
    from zabota.identity import models as identity_models  # noqa: F401
    from zabota.kb import models as kb_models  # noqa: F401
    from zabota.routing import models as routing_models  # noqa: F401
    from zabota.tickets import models as ticket_models  # noqa: F401
