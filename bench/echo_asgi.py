"""Baton's ASGI application plus a bare echo consumer, for bench/latency.py.

``/ws/echo/`` sends each text frame back through the channel layer (a ``send`` to its own
channel, then out), so it pays what every Baton broadcast pays on the way out and nothing
else: no database, no Celery, no responder.
"""

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path

from project.asgi import django_http
from project.routing import websocket_urlpatterns


class EchoConsumer(AsyncWebsocketConsumer):
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.channel_layer.send(self.channel_name, {"type": "echo", "text": text_data})

    async def echo(self, event: dict) -> None:
        await self.send(text_data=event["text"])


application = ProtocolTypeRouter(
    {
        "http": django_http,
        "websocket": URLRouter([path("ws/echo/", EchoConsumer.as_asgi()), *websocket_urlpatterns]),
    }
)
