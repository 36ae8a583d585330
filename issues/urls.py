from django.urls import path  # noqa: F401

app_name = "issues"

urlpatterns: list = [
    # Each view module adds its routes here.
]
