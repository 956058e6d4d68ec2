def home(request):
    """The home page is the user's dashboard (reports.dashboard_views): what waits for him and how his figures
    stand. Imported when called: the platform does not import the modules built on it when it loads."""
    from reports.dashboard_views import dashboard

    return dashboard(request)
