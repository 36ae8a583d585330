from django.urls import path

from issues.views import detail, lists, notifications, offline, photos, pickers, report, triage

app_name = "issues"

urlpatterns: list = [
    # Every route of the issues app is listed here; the views live in issues/views/.
    path("issues/new/", report.issue_report, name="issue_report"),
    path("issues/nearby-points/", report.nearby_points, name="nearby_points"),
    path("issues/triage/", triage.triage, name="triage"),
    path("offline/", offline.offline_fallback, name="offline"),
    path("offline/session.json", offline.session_state, name="offline_session"),
    path("offline/reference.json", offline.reference_data, name="offline_reference"),
    path("outbox/", offline.outbox_page, name="outbox"),
    path("issues/triage/dispatch/", triage.bulk_dispatch, name="bulk_dispatch"),
    path("issues/verify/", triage.verify_queue, name="verify_queue"),
    path("issues/extensions/", triage.extension_queue, name="extension_queue"),
    path("issues/", lists.issue_list, name="issue_list"),
    path("issues/export.csv", lists.issue_export_csv, name="issue_export"),
    path("pick/<str:kind>/", pickers.picker, name="picker"),
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
    path("issues/<int:pk>/", detail.issue_detail, name="issue_detail"),
    path("issues/<int:pk>/act/<str:action>/", detail.issue_act, name="issue_act"),
]
