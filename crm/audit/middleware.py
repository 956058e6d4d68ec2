from pghistory.middleware import HistoryMiddleware

from crm.web.http import client_address


class AuditContextMiddleware(HistoryMiddleware):
    """Every audited write of a request carries the acting user, URL and client address (behind
    CRM_TRUSTED_PROXY_COUNT proxies the client's, not the proxy's, as login events and the lead form take it)."""

    def get_context(self, request):
        context = super().get_context(request)
        context["ip"] = client_address(request)
        return context
