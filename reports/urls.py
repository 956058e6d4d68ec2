"""Reports: the index, each report, a report table as .xlsx; targets and scheduled mails have their own modules
(reports/target_urls.py, reports/subscription_urls.py) once they exist. Namespace "reports"."""

from django.urls import include, path

from . import views

app_name = "reports"

urlpatterns = [
    path("", views.report_index, name="index"),
    path("targets/", include("reports.target_urls")),
    path("subscriptions/", include("reports.subscription_urls")),
    path("<slug:key>/", views.report_page, name="report"),
    path("<slug:key>/export/<slug:table>/", views.report_export, name="export"),
]
