"""The targets pages, included by reports/urls.py: their names join the "reports" namespace (reports:target_list,
reports:target_copy)."""

from django.urls import path

from . import target_views

urlpatterns = [
    path("", target_views.target_list, name="target_list"),
    path("copy/", target_views.target_copy, name="target_copy"),
]
