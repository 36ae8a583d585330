from django.urls import path  # noqa: F401

app_name = "districts"

urlpatterns: list = [
    # Admin tools (responsibility matrix, staff, coverage, routing check, import/export).
]
