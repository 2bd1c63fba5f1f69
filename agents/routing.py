from channels.auth import AuthMiddlewareStack
from django.urls import path

from agents.consumers import ConsoleConsumer

websocket_urlpatterns = [
    # The console rides on the agent's session cookie.
    path("ws/console/", AuthMiddlewareStack(ConsoleConsumer.as_asgi())),
]
