from django.urls import path

from interface import views

app_name = "interface"

urlpatterns = [
    path("preferences/", views.update_preferences, name="preferences"),
]
