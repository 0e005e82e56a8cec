from django.apps import AppConfig
from django.core.signals import request_started


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = "Model providers"

    def ready(self) -> None:
        from providers.catalog import warm_catalog

        request_started.connect(warm_catalog)
