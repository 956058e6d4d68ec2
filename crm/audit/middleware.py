from pghistory.middleware import HistoryMiddleware


class AuditContextMiddleware(HistoryMiddleware):
    """Every audited write of a request carries the acting user, URL and client address."""

    def get_context(self, request):
        context = super().get_context(request)
        context["ip"] = request.META.get("REMOTE_ADDR")
        return context
