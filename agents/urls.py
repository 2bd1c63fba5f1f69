from django.urls import path

from agents import dashboard, views

app_name = "agents"

urlpatterns = [
    path("", views.console, name="console"),
    path("presence/", views.presence, name="presence"),
    path("conversations/<int:conversation_id>/", views.conversation, name="conversation"),
    path("conversations/<int:conversation_id>/claim/", views.claim, name="claim"),
    path("conversations/<int:conversation_id>/reply/", views.reply, name="reply"),
    path("conversations/<int:conversation_id>/note/", views.note, name="note"),
    path("conversations/<int:conversation_id>/assign/", views.assign, name="assign"),
    path("conversations/<int:conversation_id>/transfer/", views.transfer, name="transfer"),
    path("conversations/<int:conversation_id>/hand-back/", views.hand_back, name="hand-back"),
    path("conversations/<int:conversation_id>/resolve/", views.resolve, name="resolve"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("dashboard.csv", dashboard.dashboard_csv, name="dashboard-csv"),
]
