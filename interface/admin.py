from django.contrib import admin

from interface.models import Preference


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "theme", "sidebar_collapsed"]
