from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from project import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.health, name="health"),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("console/", include("agents.urls")),
    path("api/v1/", include("project.api_urls")),
    path("", include("chat.urls")),
]
