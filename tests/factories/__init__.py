from .accounts import PASSWORD, TeamFactory, UserFactory
from .customers import (
    ContactFactory,
    CustomerFactory,
    CustomFieldDefinitionFactory,
    TagFactory,
    pool_settings,
)
from .interactions import FollowUpFactory, InteractionFactory

__all__ = [
    "PASSWORD",
    "ContactFactory",
    "CustomFieldDefinitionFactory",
    "CustomerFactory",
    "FollowUpFactory",
    "InteractionFactory",
    "TagFactory",
    "TeamFactory",
    "UserFactory",
    "pool_settings",
]
