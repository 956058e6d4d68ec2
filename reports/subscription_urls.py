"""The scheduled report mails' pages, included by reports/urls.py: their names join the "reports" namespace
(reports:subscription_list, …)."""

from django.urls import path

from . import subscription_views as views

urlpatterns = [
    path("", views.subscription_list, name="subscription_list"),
    path("new/", views.subscription_create, name="subscription_create"),
    path("<int:pk>/delete/", views.subscription_delete, name="subscription_delete"),
    path("<int:pk>/leave/", views.subscription_leave, name="subscription_leave"),
]
