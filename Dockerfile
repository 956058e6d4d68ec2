# syntax=docker/dockerfile:1
# Production image of the CRM: gunicorn serves the app, whitenoise its static files.
# docker-compose.yml runs the same image as web, worker and beat.

# --- Stage 1: front-end libraries (bootstrap, htmx, echarts, ...) into static/vendor/
FROM node:20-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY scripts/build_assets.sh scripts/
RUN bash scripts/build_assets.sh

# --- Stage 2: the Python application
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# gettext for compilemessages below; postgresql-client for the scheduled backups (pg_dump, pg_restore)
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext postgresql-client \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, so that code changes do not reinstall them. pyproject.toml names
# no packages of its own: the code runs from /app (PYTHONPATH).
COPY pyproject.toml ./
# The "s3" extra: boto3, for the optional off-site copy of backups (CRM_BACKUP_S3_BUCKET).
RUN pip install ".[s3]"

COPY . .
COPY --from=assets /src/static/vendor/ static/vendor/

# Settings need these to import; these values serve the build only, never at run time.
RUN export DJANGO_SETTINGS_MODULE=crm.settings.production \
        DJANGO_SECRET_KEY=build-only-not-a-secret \
        DJANGO_ALLOWED_HOSTS=localhost \
        DATABASE_URL=postgres://build:build@127.0.0.1:5432/build \
        REDIS_URL=redis://127.0.0.1:6379/0 \
    && if find . -name '*.po' | grep -q .; then python manage.py compilemessages; fi \
    && python manage.py collectstatic --noinput

# Run as an unprivileged user; media/ is where uploads go (a volume in compose).
RUN useradd --system --create-home --uid 10001 crm \
    && mkdir -p /app/media \
    && chown crm:crm /app/media
USER crm

EXPOSE 8000
CMD ["gunicorn", "crm.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
