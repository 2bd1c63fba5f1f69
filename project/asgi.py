"""HTTP and the websocket routes: the customer widget and the agent console."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# Django must be set up before anything imports models.
django_http = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from project.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_http,
        # Each consumer checks the Origin itself: per site for the widget, Baton's own
        # pages only for the console. Only the console reads the session (agents/routing.py):
        # the widget's visitors have none, and thousands of idle widget sockets are
        # lighter without one.
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
