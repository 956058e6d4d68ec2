from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import set_language

from crm.accounts import mfa_views
from crm.accounts.views import account_settings
from crm.web.views import home

admin.site.site_header = "CRM"
admin.site.site_title = "CRM"

# Django's form views take PUT as a POST (answering an empty form); these pages are GET and POST only, like the rest.
FORM_METHODS = ["get", "post"]

urlpatterns = [
    path("", home, name="home"),
    path(
        "accounts/login/",
        login_not_required(auth_views.LoginView.as_view(redirect_authenticated_user=True,
                                                        http_method_names=FORM_METHODS)),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(http_method_names=FORM_METHODS),
         name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("accounts/settings/", account_settings, name="account_settings"),
    # Two-factor authentication (crm.accounts.mfa): the code step after the password, the user's own set-up pages,
    # and the administrators' policy.
    path("accounts/2fa/verify/", mfa_views.mfa_verify, name="mfa_verify"),
    path("accounts/2fa/", mfa_views.mfa_setup, name="mfa_setup"),
    path("accounts/2fa/recovery-codes/", mfa_views.mfa_recovery_codes, name="mfa_recovery_codes"),
    path("accounts/2fa/recovery-codes/new/", mfa_views.mfa_regenerate, name="mfa_regenerate"),
    path("accounts/2fa/remove/", mfa_views.mfa_remove, name="mfa_remove"),
    path("accounts/2fa/policy/", mfa_views.mfa_policy, name="mfa_policy"),
    # Switching language works before login too (the login page has the switch).
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("customers/", include("customers.urls")),
    path("imports/", include("crm.imports.urls")),
    path("exports/", include("crm.exports.urls")),
    path("interactions/", include("interactions.urls")),
    path("sales/", include("sales.urls")),
    path("marketing/", include("marketing.urls")),
    path("notifications/", include("crm.notifications.urls")),
    path("backups/", include("crm.backups.urls")),
    path("reports/", include("reports.urls")),
    path("audit/", include("crm.audit.urls")),
    path("admin/", admin.site.urls),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
