"""Settings shared by every environment; values that differ come from the environment."""

import datetime
from pathlib import Path

import environ
import pgtrigger
from celery.schedules import crontab
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-only-not-secret")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    # third party
    "django_filters",
    "django_htmx",
    "template_partials",
    "guardian",
    "pgtrigger",
    "pghistory",
    "pghistory.admin",
    "phonenumber_field",
    "django_celery_beat",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",  # recovery codes
    "csp",
    # platform
    "crm.accounts",
    "crm.audit",
    "crm.web",
    "crm.imports",
    "crm.exports",
    "crm.notifications",
    "crm.backups",
    # modules
    "customers",
    "interactions",
    "sales",
    "marketing",
    "support",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy and Permissions-Policy on every response (see CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    "crm.web.middleware.PermissionsPolicy",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed the second step (a TOTP or recovery code).
    "django_otp.middleware.OTPMiddleware",
    # Cache-Control: no-store on every page a signed-in user gets (they hold customer data).
    "crm.web.middleware.NoStoreForSignedInUsers",
    # Signs out after CRM_SESSION_IDLE_MINUTES without a request or CRM_SESSION_MAX_HOURS after login.
    "crm.accounts.session_timeouts.SessionTimeoutMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After the password, a user with two-factor authentication reaches only the code page, and one whose role
    # requires it but who has no device only the enrolment page (crm.accounts.mfa).
    "crm.accounts.mfa_middleware.MfaMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Puts the acting user and URL into the context of every audit event written by a request.
    "crm.audit.middleware.AuditContextMiddleware",
    # Answers a locked-out login attempt with the lockout page (see AXES_* below); last, as django-axes asks.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "crm.web.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default="postgres://crm:crm@127.0.0.1:54329/crm")}
# A PostgreSQL streaming replica (read-only) for the reports: with CRM_REPLICA_DATABASE_URL set, report pages, their
# .xlsx exports and the scheduled report mails read from it (crm.db_routers), and everything else stays on default.
if env("CRM_REPLICA_DATABASE_URL", default=""):
    DATABASES["replica"] = env.db("CRM_REPLICA_DATABASE_URL")
for _database in DATABASES.values():
    _database["ATOMIC_REQUESTS"] = False
    _database["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
    # A query whose client is gone (a killed worker) is cancelled within seconds instead of running to its end
    # while it holds its locks (PostgreSQL 14+). No JIT: the reports' aggregates are costed above its threshold and
    # it compiled each for 30-460 ms, more than it saved them at 1,000,000 rows (bench/RESULTS.md, reports).
    _database.setdefault("OPTIONS", {})["options"] = "-c client_connection_check_interval=2000 -c jit=off"
DATABASE_ROUTERS = ["crm.db_routers.ReportsReadFromReplica"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Two database roles in a real install, so that the audit trail cannot be changed through the application.
# DATABASE_URL is the role this process connects as: for web, worker and beat the application role (CRM_DB_APP_ROLE,
# e.g. crm_app), which owns nothing and may only read and insert audit rows; for `migrate` and then
# `grant_app_role` the owner of the tables (e.g. crm), run as a step of their own before the processes start
# (docker compose's migrate service, scripts/dev.sh run). grant_app_role creates the application role when it is
# missing, with CRM_DB_APP_PASSWORD (which the owner step alone needs), and grants it its privileges
# (crm/audit/app_role.py). Left unconfigured, everything connects as one role, as the tests do.
CRM_DB_APP_ROLE = env("CRM_DB_APP_ROLE", default="crm_app")
CRM_DB_APP_PASSWORD = env("CRM_DB_APP_PASSWORD", default="")

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out user name and address before any other
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"  # the dashboard of the user's role
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# No forced password rotation: passwords never expire.

# Login lockout (django-axes): after CRM_LOGIN_FAILURE_LIMIT wrong passwords for one user name from one client
# address, that pair is refused for CRM_LOGIN_COOLOFF_MINUTES. Locking the pair, not the user name alone, keeps an
# attacker elsewhere from locking a real user out from his own address. An administrator unlocks early by deleting
# the access attempts in the admin (Axes → Access attempts). The address is the one the web-to-lead form uses
# (crm.web.http.client_address, behind CRM_TRUSTED_PROXY_COUNT proxies).
AXES_FAILURE_LIMIT = env.int("CRM_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("CRM_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "crm.web.http.client_address"
AXES_LOCKOUT_CALLABLE = "crm.accounts.views.login_locked_out"

# Sessions end after this many minutes without a request, and this many hours after login whatever the activity
# (crm.accounts.session_timeouts). Disabling a user ends his sessions (ModelBackend refuses inactive users) and a
# password change ends his other sessions (the session auth hash).
CRM_SESSION_IDLE_MINUTES = env.int("CRM_SESSION_IDLE_MINUTES", default=30)
CRM_SESSION_MAX_HOURS = env.int("CRM_SESSION_MAX_HOURS", default=12)

# Content-Security-Policy (django-csp), the same in every environment, so that development and the tests (browser
# tests included) meet the policy production sends. Scripts and style sheets come from the CRM's own origin only
# (static/, the vendored htmx, Bootstrap, ECharts and SortableJS included; no CDN), and no page has an inline
# script, an on*= handler or a javascript: URL, so an injected <script> or attribute does not run. None of those
# libraries needs eval. <style> elements are refused too (htmx's own indicator styles are turned off in base.html;
# static/css/app.css has them). style="..." attributes are allowed (style-src-attr): ~30 templates and Django's
# admin use them, and an attribute can neither run script nor, with img-src as it is, send data elsewhere.
# frame-ancestors 'none': no other site may frame a CRM page (the web-to-lead form, made to be embedded, widens it:
# CRM_LEAD_FORM_FRAME_ANCESTORS).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],  # data: for Bootstrap's form icons (SVG in its CSS)
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# Origins whose pages may embed the public web-to-lead form (an iframe on the company's website), e.g.
# "https://www.example.com"; "*" (the default) lets any https or http site embed it.
CRM_LEAD_FORM_FRAME_ANCESTORS = env.list("CRM_LEAD_FORM_FRAME_ANCESTORS", default=["*"])
# Browser features no page of the CRM uses, refused to every page and to anything it might frame
# (Permissions-Policy header, crm.web.middleware.PermissionsPolicy).
CRM_PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()"
)

# Two-factor authentication (django-otp, crm.accounts.mfa): the name authenticator apps show beside the account.
# Wrong codes slow down exponentially per device (1, 2, 4, 8 ... seconds between tries; OTP_*_THROTTLE_FACTOR) and
# count as failed logins for the lockout above.
OTP_TOTP_ISSUER = env("CRM_TOTP_ISSUER", default="CRM")

# Chinese first, English complete.
LANGUAGE_CODE = env("CRM_LANGUAGE_CODE", default="zh-hans")
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
# Amounts grouped by thousands in Chinese too (crm/formats/zh_Hans).
FORMAT_MODULE_PATH = ["crm.formats"]
USE_TZ = True
TIME_ZONE = env("CRM_TIME_ZONE", default="Asia/Shanghai")

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("CRM_MEDIA_ROOT", default=BASE_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:63799/0")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Every periodic job of the CRM, in one place. django-celery-beat copies these into its tables,
# where an admin can change them.
CELERY_BEAT_SCHEDULE = {
    "customers-return-stale-to-pool": {
        "task": "customers.tasks.return_stale_customers_to_pool",
        "schedule": crontab(minute=15, hour="*"),
    },
    "imports-resume-stalled": {
        "task": "crm.imports.tasks.resume_stalled_imports",
        "schedule": 60.0,
    },
    "notifications-email-unmailed": {
        "task": "crm.notifications.tasks.email_unmailed_notifications",
        "schedule": crontab(minute="*/5"),
    },
    "sales-reassign-untouched-leads": {
        "task": "sales.tasks.reassign_untouched_leads",
        "schedule": crontab(minute="*/5"),
    },
    "sales-route-waiting-leads": {
        "task": "sales.tasks.route_waiting_leads",
        "schedule": crontab(minute="*/5"),
    },
    "sales-remind-overdue-payments": {
        "task": "sales.tasks.remind_overdue_payments",
        "schedule": crontab(minute=0, hour=9),  # each morning, in TIME_ZONE
    },
    "interactions-resend-stuck-email": {
        "task": "interactions.tasks.resend_stuck_email",
        "schedule": crontab(minute="*/10"),
    },
    "interactions-scan-reminders": {
        "task": "interactions.tasks.scan_reminders",
        "schedule": crontab(minute="*"),  # at the start of each minute
    },
    "interactions-sync-mailboxes": {
        "task": "interactions.tasks.sync_mailboxes",
        "schedule": crontab(minute="*/5"),
    },
    # The nightly backup is not here: its schedule is edited by an administrator, so it lives in the database only
    # (crm/backups/schedule.py says why).
    "backups-restore-drill": {
        "task": "crm.backups.tasks.run_restore_drill",
        "schedule": crontab(minute=30, hour=4, day_of_week=0),  # Sunday morning, after the default nightly backup
    },
    "reports-send-scheduled-mails": {
        "task": "reports.tasks.send_scheduled_reports",
        "schedule": crontab(minute=0, hour=7),  # each morning, in TIME_ZONE; a missed week or month catches up
    },
    # The performance report's monthly sums (reports.summaries): the recent months every 10 minutes (SUMMARY_MINUTES),
    # every month once a night.
    "reports-sales-months-recent": {
        "task": "reports.tasks.refresh_sales_months",
        "schedule": crontab(minute="*/10"),
    },
    "reports-sales-months-all": {
        "task": "reports.tasks.refresh_sales_months",
        "schedule": crontab(minute=40, hour=3),
        "kwargs": {"everything": True},
    },
    # Every month before this one at once (4-8 s at 1,000,000 customers on the bench machine): an old customer is
    # edited as often as a new one, so there is no "recent months" shortcut here. Offset from the sales months'.
    "reports-customer-months": {
        "task": "reports.tasks.refresh_customer_months",
        "schedule": crontab(minute="5-59/10"),
    },
}

# Backups (crm.backups): pg_dump files and archives of MEDIA_ROOT are written here (keep it off the database's
# disk in production), and only the newest CRM_BACKUP_KEEP finished backups are kept.
CRM_BACKUP_DIR = env.path("CRM_BACKUP_DIR", default=BASE_DIR / ".run" / "backups")
CRM_BACKUP_KEEP = env.int("CRM_BACKUP_KEEP", default=14)
# Optionally, every finished backup is also copied off the machine to S3-compatible object storage (AWS S3, Aliyun
# OSS, Tencent COS, MinIO) through django-storages, as the storage "backups"; retention deletes old copies there too,
# and a restore fetches a backup from there when its local files are gone. Needs `pip install django-storages[s3]`.
if env("CRM_BACKUP_S3_BUCKET", default=""):
    STORAGES["backups"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("CRM_BACKUP_S3_BUCKET"),
            "endpoint_url": env("CRM_BACKUP_S3_ENDPOINT_URL", default=None),
            "region_name": env("CRM_BACKUP_S3_REGION", default=None),
            "access_key": env("CRM_BACKUP_S3_ACCESS_KEY", default=None),
            "secret_key": env("CRM_BACKUP_S3_SECRET_KEY", default=None),
            "location": env("CRM_BACKUP_S3_PREFIX", default="crm-backups"),
            "default_acl": "private",
            "file_overwrite": True,
        },
    }

# Sales: a lead its owner has not handled this many hours after it was assigned goes to the next rep, and his
# manager is told.
CRM_LEAD_REASSIGN_AFTER_HOURS = env.int("CRM_LEAD_REASSIGN_AFTER_HOURS", default=4)
# Proxies in front of the CRM that append the client's address to X-Forwarded-For (nginx, a load balancer). The
# public web-to-lead form limits submissions per client address: with 0 it takes REMOTE_ADDR; with N it takes the
# address the outermost of the N proxies saw (the N-th entry from the right), since anything left of it was written
# by the client and can be forged.
CRM_TRUSTED_PROXY_COUNT = env.int("CRM_TRUSTED_PROXY_COUNT", default=0)
# The public web-to-lead form takes at most this many leads from one client address per window (seconds).
CRM_LEAD_FORM_RATE_LIMIT = env.int("CRM_LEAD_FORM_RATE_LIMIT", default=5)
CRM_LEAD_FORM_RATE_WINDOW = env.int("CRM_LEAD_FORM_RATE_WINDOW", default=600)

# Follow-ups still open this many hours after they were due are reported to the assignee's manager.
CRM_FOLLOWUP_ESCALATE_AFTER_HOURS = env.int("CRM_FOLLOWUP_ESCALATE_AFTER_HOURS", default=24)
# Links in mails point here.
CRM_BASE_URL = env("CRM_BASE_URL", default="http://127.0.0.1:8000")
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", default="CRM <crm@localhost>")

# Imports (crm.imports): what an uploaded file may be. A 1,000,000-row sheet of 15 columns is ~60 MB as .xlsx
# and ~1 GB of XML inside it; a zip bomb unpacks thousands of times its size.
CRM_IMPORT_MAX_BYTES = env.int("CRM_IMPORT_MAX_BYTES", default=100 * 1024 * 1024)
CRM_IMPORT_MAX_ROWS = env.int("CRM_IMPORT_MAX_ROWS", default=1_000_000)
CRM_IMPORT_MAX_ZIP_ENTRIES = 2_000
CRM_IMPORT_MAX_UNCOMPRESSED_BYTES = 3 * 1024 * 1024 * 1024
CRM_IMPORT_MAX_COMPRESSION_RATIO = 200
# A workbook with a part this large (a sheet's XML, or its shared strings) is read a row at a time
# (crm.imports.sheet_xml) instead of whole by python-calamine: ~70,000 rows of 15 columns and more.
CRM_IMPORT_STREAM_FROM_BYTES = env.int("CRM_IMPORT_STREAM_FROM_BYTES", default=64 * 1024 * 1024)
# Such workbooks have half their rows checked by a forked helper process (crm.imports.helper), on the second core.
CRM_IMPORT_CHECK_HELPER = env.bool("CRM_IMPORT_CHECK_HELPER", default=True)
# The commit of an import with at least PARTS_MIN_ROWS new records is written by COMMIT_PARTS connections at once
# (crm.imports.parts; PostgreSQL needs max_prepared_transactions >= COMMIT_PARTS); 1 writes every commit in one.
CRM_IMPORT_COMMIT_PARTS = env.int("CRM_IMPORT_COMMIT_PARTS", default=2)
CRM_IMPORT_PARTS_MIN_ROWS = env.int("CRM_IMPORT_PARTS_MIN_ROWS", default=10_000)

# Mailboxes (interactions.mail_servers): the worker reads only IMAP servers whose every address is public, on
# port 993 or 143, so that nobody can point it at hosts inside the network. Servers an administrator trusts are
# listed here, by host name or network in CIDR notation ("imap.corp.local,10.8.0.0/24"); they may use any port.
CRM_MAILBOX_ALLOWED_HOSTS = env.list("CRM_MAILBOX_ALLOWED_HOSTS", default=[])
# A message larger than this is not fetched from a mailbox (its owner is told one could not be read).
CRM_MAIL_MAX_BYTES = env.int("CRM_MAIL_MAX_BYTES", default=25 * 1024 * 1024)

# Audit triggers fire once per statement (with transition tables), not once per row: an import or a bulk
# action writing 100,000 customers attaches its context once, where row triggers upserted it 100,000 times
# (1.2 ms a row, two minutes for a 100,000-row import; bench/RESULTS.md, "Import").
PGHISTORY_LEVEL = pgtrigger.Statement

# django-filter's empty choice reads "any" instead of a row of dashes.
FILTERS_EMPTY_CHOICE_LABEL = _("Any")

PHONENUMBER_DEFAULT_REGION = "CN"
PHONENUMBER_DB_FORMAT = "E164"

GUARDIAN_RAISE_404 = True
ANONYMOUS_USER_NAME = None  # no guardian anonymous user: nothing is public without login


MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
}

# Names shown for each role (auth groups). Kept here so templates and the role sync agree.
ROLE_LABELS = {
    "admin": _("Administrator"),
    "sales_manager": _("Sales manager"),
    "sales_rep": _("Sales rep"),
    "marketing": _("Marketing"),
    "support_agent": _("Support agent"),
}
