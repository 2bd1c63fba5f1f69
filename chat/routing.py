from django.urls import path

from chat.consumers import WidgetConsumer

websocket_urlpatterns = [
    path("ws/widget/<slug:site_key>/", WidgetConsumer.as_asgi()),
]
