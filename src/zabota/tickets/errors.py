from zabota.core.errors import Conflict, NotFound, ZabotaError
from zabota.core.i18n import N_


class TicketNotFound(NotFound):
    code, title = "ticket_not_found", N_("Ticket not found")


class AttachmentNotFound(NotFound):
    code, title = "attachment_not_found", N_("Attachment not found")


class InvalidTransition(Conflict):
    code, title = "invalid_status_transition", N_("This status change is not allowed")


class TicketClosed(Conflict):
    code, title = "ticket_closed", N_("The ticket is closed; open a new request instead")


class NothingToEscalate(Conflict):
    code, title = "no_escalation_line", N_("There is no further support line to escalate to")


class CannotMergeTicket(Conflict):
    code, title = "cannot_merge", N_("These tickets cannot be merged")


class ExternalIdTaken(Conflict):
    code, title = "external_id_taken", N_(
        "This external_id belongs to another message; use an id of your own for each message")


class AttachmentRejected(ZabotaError):
    status, code, title = 422, "attachment_rejected", N_("The file cannot be attached")
