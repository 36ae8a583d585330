from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """The demo loader (`load_demo`) and the benchmarks (`benchmark_lists`, `benchmark_import`)."""

    name = "devtools"
    verbose_name = "Developer tools"
