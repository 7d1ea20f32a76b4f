from zabota.core.errors import NotFound
from zabota.core.i18n import N_


class FaqNotFound(NotFound):
    code, title = "bot_faq_not_found", N_("FAQ pair not found")


class FlowNotFound(NotFound):
    code, title = "bot_flow_not_found", N_("Flow not found")
