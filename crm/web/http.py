"""Facts about the HTTP request shared by several apps."""

from django.conf import settings


def client_address(request) -> str:
    """The visitor's address: REMOTE_ADDR, or behind CRM_TRUSTED_PROXY_COUNT proxies the address the outermost
    of them saw (the N-th entry of X-Forwarded-For from the right; entries further left come from the client)."""
    proxies = settings.CRM_TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        if forwarded:
            return forwarded[-proxies] if len(forwarded) >= proxies else forwarded[0]
    return request.META.get("REMOTE_ADDR", "")
