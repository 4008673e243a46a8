"""Settings of the Django example site.

Everything a deployment changes comes from the site's environment (`[app] env` in
site.toml): the secret key, the allowed hosts and the data folder. The values in site.toml
are for the demo only: a real site sets its own DJANGO_SECRET_KEY.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# The site's writable folder: `[app] data = ["data"]` mounts sites/django/data at /data.
DATA_DIR = Path(os.environ.get("DJANGO_DATA_DIR", "/data"))

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "guestbook",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "db.sqlite3",
        # One connection per request (closed when the response ends): another instance of
        # the site may have written the file since, and a connection kept open across
        # requests would read stale pages from its cache. The host serializes the requests
        # of a site with writable data (`data_lock`), so sqlite needs no file locks.
        "CONN_MAX_AGE": 0,
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# PASSWORD_HASHERS is Django's default: PBKDF2-HMAC-SHA256 at Django's own iteration count.
# The guest CPython has no OpenSSL; the wsgi-wasm bridge gives it a hashlib.pbkdf2_hmac
# computed by the host.

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# The admin's CSS and JS are served by the host's static pipeline from the vendored Django
# package (`[static.from_packages]` in site.toml), never by Django itself.
STATIC_URL = "/static/"

# DEBUG is off, so Django would only mail errors to ADMINS: send them to the site log.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django": {"handlers": ["stderr"], "level": "WARNING"},
        "mysite": {"handlers": ["stderr"], "level": "INFO"},
    },
}
