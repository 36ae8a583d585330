from django.urls import path

from rounds import views

app_name = "rounds"

urlpatterns = [
    path("", views.round_list, name="round_list"),
    path("new/", views.round_create, name="round_create"),
    path("<int:pk>/", views.worklist, name="worklist"),
    path("<int:pk>/results/", views.round_results, name="round_results"),
    path("<int:pk>/results.xlsx", views.round_export, name="round_export"),
    path("<int:pk>/clone/", views.round_clone, name="round_clone"),
    path("<int:pk>/close/", views.round_close, name="round_close"),
    path("<int:pk>/points/<int:point_pk>/", views.visit_page, name="visit_page"),
    path("<int:pk>/points/<int:point_pk>/state/", views.visit_api, name="visit_api"),
    path("<int:pk>/points/<int:point_pk>/start/", views.visit_start, name="visit_start"),
    path("<int:pk>/points/<int:point_pk>/mark/", views.visit_mark, name="visit_mark"),
    path("<int:pk>/points/<int:point_pk>/finish/", views.visit_finish, name="visit_finish"),
    path(
        "<int:pk>/observations/<int:observation_pk>/file/",
        views.observation_file,
        name="observation_file",
    ),
    path(
        "<int:pk>/observations/<int:observation_pk>/fix/",
        views.observation_fix,
        name="observation_fix",
    ),
    path(
        "<int:pk>/observations/<int:observation_pk>/photo/",
        views.observation_photo,
        name="observation_photo",
    ),
]
