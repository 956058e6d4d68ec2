from django.urls import path

from . import views

app_name = "imports"

urlpatterns = [
    path("", views.import_list, name="list"),
    path("new/", views.import_new, name="new"),
    path("<int:pk>/", views.import_detail, name="detail"),
    path("<int:pk>/configure/", views.import_configure, name="configure"),
    path("<int:pk>/commit/", views.import_commit, name="commit"),
    path("<int:pk>/cancel/", views.import_cancel, name="cancel"),
    path("<int:pk>/undo/", views.import_undo, name="undo"),
    path("<int:pk>/errors.xlsx", views.import_errors, name="errors"),
]
