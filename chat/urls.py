from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("widget/<slug:site_key>/", views.widget_frame, name="widget-frame"),
    path("widget/<slug:site_key>/config.json", views.widget_config, name="widget-config"),
    path(
        "widget/<slug:site_key>/resume/<str:token>/",
        views.conversation_resume,
        name="conversation-resume",
    ),
    path("kb/<slug:slug>/", views.article_page, name="article"),
]
