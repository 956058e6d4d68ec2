"""Mail: mailboxes, unfiled mail, sending email from the CRM. Included by interactions/urls.py (namespace
"interactions")."""

from django.urls import path

from . import mail_views

urlpatterns = [
    path("mail/mailboxes/", mail_views.mailbox_list, name="mailbox_list"),
    path("mail/mailboxes/new/", mail_views.mailbox_create, name="mailbox_create"),
    path("mail/mailboxes/<int:pk>/edit/", mail_views.mailbox_update, name="mailbox_update"),
    path("mail/mailboxes/<int:pk>/delete/", mail_views.mailbox_delete, name="mailbox_delete"),
    path("mail/mailboxes/<int:pk>/read/", mail_views.mailbox_sync, name="mailbox_sync"),
    path("mail/unfiled/", mail_views.mail_unfiled, name="mail_unfiled"),
    path("mail/unfiled/<int:pk>/file/", mail_views.mail_file, name="mail_file"),
    path("mail/compose/<int:customer_pk>/", mail_views.mail_compose, name="mail_compose"),
]
