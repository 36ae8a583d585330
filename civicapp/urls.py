from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path

from districts.views import language, login
from issues.views import home, offline


def favicon(request: HttpRequest) -> HttpResponse:
    """Pages that name no icon (the Django admin) make browsers ask for /favicon.ico."""
    return redirect(static("img/favicon.svg"), permanent=True)


# The admin's own login page must not be an unthrottled way around the site's.
admin.site.login_form = login.ThrottledAdminAuthenticationForm

urlpatterns = [
    path("favicon.ico", favicon),
    # From the root, so the worker's scope is the whole site and the manifest its start page.
    path("sw.js", offline.service_worker, name="service_worker"),
    path("manifest.webmanifest", offline.manifest, name="manifest"),
    path("accounts/login/", login.login_view, name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/setlang/", language.set_language, name="set_language"),
    path("admin/", admin.site.urls),
    path("manage/", include("districts.urls")),
    path("stats/", include("stats.urls")),
    path("rounds/", include("rounds.urls")),
    path("", home.home, name="home"),
    path("", include("issues.urls")),
]
