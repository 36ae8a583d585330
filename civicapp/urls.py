from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from districts.views import language
from issues.views import home

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/setlang/", language.set_language, name="set_language"),
    path("admin/", admin.site.urls),
    path("manage/", include("districts.urls")),
    path("", home.home, name="home"),
    path("", include("issues.urls")),
]
