from crm.fieldcrypto import validate_keys

from .base import *  # noqa: F403
from .base import env

# No default: a production process without a real key must not start.
SECRET_KEY = env("DJANGO_SECRET_KEY")
# Sensitive custom fields (crm.fieldcrypto, README "Security"): comma-separated Fernet keys, the first encrypts and
# all decrypt, and a separate secret for the blind index. No defaults, and the public development keys are refused:
# without them no sensitive value could be written or read.
CRM_FIELD_ENCRYPTION_KEYS = [key.strip() for key in env.list("CRM_FIELD_ENCRYPTION_KEYS") if key.strip()]
CRM_BLIND_INDEX_KEY = env("CRM_BLIND_INDEX_KEY")
validate_keys(CRM_FIELD_ENCRYPTION_KEYS, CRM_BLIND_INDEX_KEY, allow_dev_keys=False)
DEBUG = False
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = env("DJANGO_EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("DJANGO_EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("DJANGO_EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("DJANGO_EMAIL_HOST_PASSWORD", default="")
# STARTTLS on 587, or implicit TLS on 465 (common with Chinese hosted mail); not both.
EMAIL_USE_TLS = env.bool("DJANGO_EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("DJANGO_EMAIL_USE_SSL", default=False)
# A mail sent from the CRM waits for the server within the request: never longer than this.
EMAIL_TIMEOUT = env.int("DJANGO_EMAIL_TIMEOUT", default=20)
# Mail to customers goes out From the user's own address; False sends it From DEFAULT_FROM_EMAIL with the user
# as Reply-To, for servers that refuse other senders than their account.
CRM_EMAIL_FROM_USER = env.bool("CRM_EMAIL_FROM_USER", default=True)
