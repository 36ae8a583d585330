from django.urls import path

from issues.views import lists, notifications, photos

app_name = "issues"

urlpatterns: list = [
    # Each view module adds its routes here.
    path("issues/", lists.issue_list, name="issue_list"),
    path("issues/export.csv", lists.issue_export_csv, name="issue_export"),
    path("notifications/", notifications.notification_list, name="notification_list"),
    path(
        "notifications/<int:pk>/read/",
        notifications.notification_read,
        name="notification_read",
    ),
    path(
        "notifications/read-all/",
        notifications.notification_read_all,
        name="notification_read_all",
    ),
    path("photos/<int:pk>/", photos.photo_view, name="photo"),
    path("photos/<int:pk>/thumb/", photos.photo_thumb_view, name="photo_thumb"),
]
