from django.urls import path, re_path

from gateway import meta_views, unknown_url, views
from gateway.protocols.responses import openapi_view

urlpatterns = [
    path("responses", views.responses, name="responses"),
    path("responses/", views.responses),  # as the ASGI front takes it
    path("quote", views.quote, name="quote"),
    re_path(r"^quote/(?P<rest>.*)$", views.quote),  # /v1/quote + a door's path (gateway/relay/quote.py)
    path("responses/input_tokens", views.responses_input_tokens, name="responses-input-tokens"),
    path("models", meta_views.models_list, name="models"),
    path("openapi.json", openapi_view.openapi_json, name="openapi"),
    path("models/<path:model_id>", meta_views.model_detail, name="model-detail"),
    re_path(r"^(?P<rest>.*)$", unknown_url.unknown_url, name="unknown-url"),  # last: JSON 404, never HTML
]
