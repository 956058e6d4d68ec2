from django.urls import path

from . import mail_urls, page_urls, views

app_name = "interactions"

urlpatterns = [
    path("customers/<int:customer_pk>/log/", views.interaction_log, name="log"),
    path("<int:pk>/attachments/<int:attachment_pk>/", views.interaction_attachment, name="attachment"),
    path("followups/<int:pk>/complete/", views.followup_complete, name="followup_complete"),
    path("followups/<int:pk>/cancel/", views.followup_cancel, name="followup_cancel"),
    path("followups/<int:pk>/snooze/", views.followup_snooze, name="followup_snooze"),
    path("followups/<int:pk>/reassign/", views.followup_reassign, name="followup_reassign"),
] + mail_urls.urlpatterns + page_urls.urlpatterns
