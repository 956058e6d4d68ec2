from django.conf import settings

from crm.accounts.roles import is_admin, user_roles


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "is_crm_admin": is_admin(user),
        "role_labels": [str(settings.ROLE_LABELS[r]) for r in sorted(user_roles(user))],
    }
