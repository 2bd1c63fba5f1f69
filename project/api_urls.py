from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from agents.apis import AgentViewSet, FiguresView
from chat.apis import ArticleViewSet, ContactViewSet, ConversationViewSet
from escalation.apis import TeamViewSet, TriggerViewSet
from project.api import not_found

router = SimpleRouter()
router.register("contacts", ContactViewSet, basename="contact")
router.register("conversations", ConversationViewSet, basename="conversation")
router.register("articles", ArticleViewSet, basename="article")
router.register("triggers", TriggerViewSet, basename="trigger")
router.register("teams", TeamViewSet, basename="team")
router.register("agents", AgentViewSet, basename="agent")

app_name = "api"

urlpatterns = [
    *router.urls,
    path("figures/", FiguresView.as_view(), name="figures"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"^[\s\S]*$", not_found),
]
