from django.urls import path

from districts.views import checks, matrix, staff, transfer

app_name = "districts"

urlpatterns: list = [
    # Admin tools (responsibility matrix, staff, coverage, routing check, import/export).
    path("", matrix.district_index, name="index"),
    path("districts/<int:pk>/matrix/", matrix.matrix, name="matrix"),
    path("districts/<int:pk>/matrix/cell/", matrix.matrix_cell, name="matrix_cell"),
    path("districts/<int:pk>/matrix/history/", matrix.cell_history, name="cell_history"),
    path("districts/<int:pk>/staff/", staff.district_staff, name="district_staff"),
    path("responsibilities/<int:pk>/end/", matrix.responsibility_end, name="responsibility_end"),
    path(
        "responsibilities/<int:pk>/withdraw/",
        matrix.responsibility_withdraw,
        name="responsibility_withdraw",
    ),
    path("staff/", staff.staff_list, name="staff_list"),
    path("staff/new/", staff.staff_create, name="staff_create"),
    path("staff/<int:pk>/", staff.staff_edit, name="staff_edit"),
    path("staff/<int:pk>/disable/", staff.staff_disable, name="staff_disable"),
    path("staff/<int:pk>/enable/", staff.staff_enable, name="staff_enable"),
    path("coverage/", checks.coverage, name="coverage"),
    path("routing/", checks.routing_check, name="routing_check"),
    path("changes/", checks.audit_log, name="audit"),
    path("import/", transfer.import_upload, name="import"),
    path("import/confirm/", transfer.import_confirm, name="import_confirm"),
    path("export/", transfer.export, name="export"),
]
