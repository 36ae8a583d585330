from django.urls import path

from issues.views import photos

app_name = "issues"

urlpatterns: list = [
    # Each view module adds its routes here.
    path("photos/<int:pk>/", photos.photo_view, name="photo"),
    path("photos/<int:pk>/thumb/", photos.photo_thumb_view, name="photo_thumb"),
]
