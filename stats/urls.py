from django.urls import path

from stats import views

app_name = "stats"

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/my-organisation/", views.my_organisation, name="my_organisation"),
    path("ranking/", views.ranking, name="ranking"),
    path("notice/", views.notice, name="notice"),
    path("notice.xlsx", views.notice_xlsx, name="notice_xlsx"),
    path("ledger.xlsx", views.ledger, name="ledger"),
    path("ledger/start/", views.ledger_start, name="ledger_start"),
    path("ledger/<int:pk>/", views.ledger_status, name="ledger_status"),
    path("ledger/<int:pk>/download/", views.ledger_download, name="ledger_download"),
    path("ranking/history/<str:kind>/<int:pk>/", views.ranking_history, name="ranking_history"),
]
