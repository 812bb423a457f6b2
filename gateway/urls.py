from django.urls import path

from . import meta_views, openapi_view, views

urlpatterns = [
    path("responses", views.responses, name="responses"),
    path("models", meta_views.models_list, name="models"),
    path("openapi.json", openapi_view.openapi_json, name="openapi"),
    path("models/<path:model_id>", meta_views.model_detail, name="model-detail"),
]
