from django.urls import path

from . import views

urlpatterns = [
    path("responses", views.responses, name="responses"),
]
