from django.conf import settings

from crm.accounts.roles import is_admin, user_roles
from crm.imports.permissions import may_import


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "is_crm_admin": is_admin(user),
        "may_import": may_import(user),
        "role_labels": [str(settings.ROLE_LABELS[r]) for r in sorted(user_roles(user))],
    }
