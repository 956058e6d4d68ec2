from crm.fieldcrypto import DEV_BLIND_INDEX_KEY, DEV_ENCRYPTION_KEY

from .base import *  # noqa: F403
from .base import env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LANGUAGE_CODE = "zh-hans"
# Separate names let several test runs (people, helpers, CI) share one PostgreSQL cluster.
DATABASES["default"]["TEST"] = {"NAME": env("CRM_TEST_DB_NAME", default="test_crm")}  # noqa: F405
# Sensitive custom fields (crm.fieldcrypto): the public development keys; tests that rotate them override these.
CRM_FIELD_ENCRYPTION_KEYS = [DEV_ENCRYPTION_KEY]
CRM_BLIND_INDEX_KEY = DEV_BLIND_INDEX_KEY
