from crm.fieldcrypto import DEV_BLIND_INDEX_KEY, DEV_ENCRYPTION_KEY

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
# Sensitive custom fields (crm.fieldcrypto): fixed keys, published in this repository, for development only;
# production (crm/settings/production.py) refuses them.
CRM_FIELD_ENCRYPTION_KEYS = [
    key.strip() for key in env.list("CRM_FIELD_ENCRYPTION_KEYS", default=[DEV_ENCRYPTION_KEY]) if key.strip()
]
CRM_BLIND_INDEX_KEY = env("CRM_BLIND_INDEX_KEY", default=DEV_BLIND_INDEX_KEY)
