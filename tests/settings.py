"""Test settings: the real settings, pointed at the local PostgreSQL, with fast hashing."""

import os
import tempfile

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/civicapp")
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-for-production")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
# Tests pick Redis explicitly where it matters; by default tasks run eagerly.
os.environ.pop("REDIS_URL", None)

from civicapp.settings import *  # noqa: F403

DEBUG = False
# The demo and benchmark commands are tested too, whatever DEBUG the environment had.
if "devtools" not in INSTALLED_APPS:  # noqa: F405
    INSTALLED_APPS = [*INSTALLED_APPS, "devtools"]  # noqa: F405
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = tempfile.mkdtemp(prefix="civicapp-test-media-")
# WhiteNoise warns about a missing STATIC_ROOT; tests never run collectstatic.
STATIC_ROOT = tempfile.mkdtemp(prefix="civicapp-test-static-")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LANGUAGE_CODE = "zh-hans"
