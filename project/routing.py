from agents.routing import websocket_urlpatterns as console_routes
from chat.routing import websocket_urlpatterns as widget_routes

websocket_urlpatterns = [*widget_routes, *console_routes]
