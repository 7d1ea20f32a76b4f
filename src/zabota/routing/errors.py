from zabota.core.errors import Conflict, NotFound
from zabota.core.i18n import N_


class CategoryNotFound(NotFound):
    code, title = "category_not_found", N_("Category not found")


class RuleNotFound(NotFound):
    code, title = "routing_rule_not_found", N_("Routing rule not found")


class ModelNotFound(NotFound):
    code, title = "category_model_not_found", N_("Category model not found")


class NotEnoughTrainingData(Conflict):
    code, title = "not_enough_training_data", N_(
        "Too few solved tickets with a category to train a model; routing uses rules only")


class CategoryInUse(Conflict):
    code, title = "category_in_use", N_("The category has subcategories; move or delete them first")


class CategoryUsedByRules(Conflict):
    code, title = "category_used_by_rules", N_(
        "Routing rules set this category; change or delete them first, or switch the "
        "category off")
