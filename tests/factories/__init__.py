from .accounts import PASSWORD, TeamFactory, UserFactory
from .customers import (
    ContactFactory,
    CustomerFactory,
    CustomFieldDefinitionFactory,
    TagFactory,
    pool_settings,
)

__all__ = [
    "PASSWORD",
    "ContactFactory",
    "CustomFieldDefinitionFactory",
    "CustomerFactory",
    "TagFactory",
    "TeamFactory",
    "UserFactory",
    "pool_settings",
]
