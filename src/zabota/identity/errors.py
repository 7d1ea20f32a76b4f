from zabota.core.errors import Conflict, NotAuthenticated, NotFound, ZabotaError
from zabota.core.i18n import N_


class UserNotFound(NotFound):
    code, title = "user_not_found", N_("User not found")


class TeamNotFound(NotFound):
    code, title = "team_not_found", N_("Team not found")


class CustomerNotFound(NotFound):
    code, title = "customer_not_found", N_("Customer not found")


class OrganizationNotFound(NotFound):
    code, title = "organization_not_found", N_("Organization not found")


class TokenNotFound(NotFound):
    code, title = "token_not_found", N_("API token not found")


class BadCredentials(NotAuthenticated):
    code, title = "bad_credentials", N_("Wrong e-mail or password")


class InvalidToken(NotAuthenticated):
    code, title = "invalid_token", N_("The access token is missing, expired or revoked")


class EmailTaken(Conflict):
    code, title = "email_taken", N_("This e-mail address is already in use")


class NameTaken(Conflict):
    code, title = "name_taken", N_("This name is already in use")


class DomainTaken(Conflict):
    code, title = "domain_taken", N_("Another organisation already has this domain")


class IdentityTaken(Conflict):
    code, title = "identity_taken", N_("This contact already belongs to another customer")


class AlreadyMerged(Conflict):
    code, title = "already_merged", N_(
        "This customer was merged into another one already; merge with that one")


class CannotMergeIntoItself(ZabotaError):
    status, code, title = 422, "merge_into_itself", N_("A record cannot be merged into itself")


class OtpRequired(NotAuthenticated):
    """The password was right; the account also asks for a one-time code."""

    code, title = "otp_required", N_("Enter the 6-digit code from your authenticator app")

    def __init__(self, *, user_id: int = 0, fingerprint: str = "") -> None:
        super().__init__(None)
        # Attributes, not problem data: the API answer must not name the account.
        self.user_id = user_id
        self.fingerprint = fingerprint


class BadOtp(NotAuthenticated):
    code, title = "bad_otp", N_("The code is wrong or has expired; enter the current code")


class TotpAlreadyEnabled(Conflict):
    code, title = "totp_enabled", N_("Two-factor authentication is already on")


class LoginLinkInvalid(ZabotaError):
    status, code, title = 400, "login_link_invalid", N_(
        "This sign-in link has expired or has already been used")
