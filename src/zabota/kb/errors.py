from zabota.core.errors import Conflict, NotFound, ZabotaError
from zabota.core.i18n import N_


class ArticleNotFound(NotFound):
    code, title = "article_not_found", N_("Article not found")


class CategoryNotFound(NotFound):
    code, title = "kb_category_not_found", N_("Category not found")


class VersionNotFound(NotFound):
    code, title = "article_version_not_found", N_("Version not found")


class SynonymGroupNotFound(NotFound):
    code, title = "synonym_group_not_found", N_("Synonym group not found")


class CannedResponseNotFound(NotFound):
    code, title = "canned_response_not_found", N_("Canned response not found")


class TransitionNotAllowed(ZabotaError):
    status, code, title = 409, "article_transition_not_allowed", N_(
        "This status change is not allowed")


class EditConflict(Conflict):
    code, title = "article_edit_conflict", N_(
        "Someone saved this article after you opened it")
