"""Response headers every page of the CRM needs."""

from django.conf import settings
from django.utils.cache import patch_cache_control


class NoStoreForSignedInUsers:
    """Pages a signed-in user sees hold customer data: no browser, proxy or shared computer may keep a copy
    (``Cache-Control: no-store, private``). Static files never get here (whitenoise answers them first) and keep
    their long cache; a view that sets its own Cache-Control keeps it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            patch_cache_control(response, no_store=True, private=True)
        return response


class PermissionsPolicy:
    """``Permissions-Policy`` on every response: the browser features that no page of the CRM uses (camera,
    microphone, location, payment...) are refused, to the page and to anything it frames, so that injected markup
    or a compromised library cannot ask for them. The list is CRM_PERMISSIONS_POLICY."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.CRM_PERMISSIONS_POLICY:
            response.headers.setdefault("Permissions-Policy", settings.CRM_PERMISSIONS_POLICY)
        return response
