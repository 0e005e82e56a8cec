from django.apps import AppConfig


class InterfaceConfig(AppConfig):
    name = "interface"
    verbose_name = "Interface"
