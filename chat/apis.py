"""REST API for contacts, conversations, transcripts and the knowledge base (docs/api.md)."""

from datetime import UTC, datetime

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from agents import selectors as agent_selectors
from agents import services as agent_services
from chat import services
from chat.models import Article, Contact, Conversation, ExampleQuestion, Message, Site
from escalation.models import Handoff, Team
from project.api import TokenScope

# Contacts --------------------------------------------------------------------------------


class ContactSerializer(serializers.ModelSerializer):
    site = serializers.SlugRelatedField(slug_field="key", queryset=Site.objects.all())
    verified = serializers.BooleanField(read_only=True)

    class Meta:
        model = Contact
        fields = [
            "id",
            "site",
            "external_id",
            "name",
            "email",
            "tier",
            "attributes",
            "identity",
            "verified",
            "created_at",
            "last_seen_at",
        ]
        read_only_fields = ["identity", "created_at", "last_seen_at"]


class ContactSyncSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    email = serializers.EmailField(required=False, allow_blank=True)
    tier = serializers.CharField(required=False, allow_blank=True, max_length=50)
    attributes = serializers.DictField(required=False)


class ContactFilter(django_filters.FilterSet):
    site = django_filters.CharFilter(field_name="site__key")

    class Meta:
        model = Contact
        fields = ["site", "tier", "external_id", "email", "identity"]


class ContactViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Customers. What the API writes counts as verified: a CRM sync keeps tiers true."""

    serializer_class = ContactSerializer
    queryset = Contact.objects.select_related("site").order_by("-created_at", "-id")
    filterset_class = ContactFilter
    ordering_fields = ["created_at", "last_seen_at", "name"]
    search_fields = ["name", "email", "external_id"]

    def perform_create(self, serializer: ContactSerializer) -> None:
        data = serializer.validated_data
        if not data.get("external_id"):
            raise ValidationError(
                {"external_id": [_("Contacts from the API need an external id.")]}
            )
        contact, _created = services.contact_sync(
            site=data["site"],
            external_id=data["external_id"],
            name=data.get("name", ""),
            email=data.get("email", ""),
            tier=data.get("tier", ""),
            attributes=data.get("attributes", {}),
        )
        serializer.instance = contact

    def perform_update(self, serializer: ContactSerializer) -> None:
        data = serializer.validated_data
        contact = serializer.instance
        external_id = data.get("external_id", contact.external_id)
        if not external_id:
            raise ValidationError({"external_id": [_("Give the contact an external id first.")]})
        if contact.external_id and external_id != contact.external_id:
            raise ValidationError(
                {"external_id": [_("The external id of a contact cannot change.")]}
            )
        try:
            serializer.instance = services.contact_update(
                contact=contact,
                external_id=external_id,
                name=data.get("name"),
                email=data.get("email"),
                tier=data.get("tier"),
                attributes=data.get("attributes"),
            )
        except services.ExternalIdTaken:
            raise ValidationError(
                {"external_id": [_("Another contact already has this external id.")]}
            ) from None

    @extend_schema(
        request=ContactSyncSerializer,
        responses={200: ContactSerializer, 201: ContactSerializer},
        parameters=[
            OpenApiParameter("site_key", str, OpenApiParameter.PATH),
            OpenApiParameter("external_id", str, OpenApiParameter.PATH),
        ],
    )
    @action(
        detail=False,
        methods=["put", "patch"],
        url_path=r"by-external-id/(?P<site_key>[-\w]+)/(?P<external_id>[^/]+)",
    )
    def by_external_id(self, request: Request, site_key: str, external_id: str) -> Response:
        """Create or update the contact with your own user id: the CRM sync entry point."""
        site = get_object_or_404(Site, key=site_key)
        limit = Contact._meta.get_field("external_id").max_length
        if len(external_id) > limit:
            raise ValidationError(
                {"external_id": [_("At most %(limit)d characters.") % {"limit": limit}]}
            )
        body = ContactSyncSerializer(data=request.data, partial=request.method == "PATCH")
        body.is_valid(raise_exception=True)
        contact, created = services.contact_sync(
            site=site, external_id=external_id, **body.validated_data
        )
        return Response(
            ContactSerializer(contact).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


# Conversations ---------------------------------------------------------------------------


class ContactBriefSerializer(serializers.ModelSerializer):
    verified = serializers.BooleanField(read_only=True)

    class Meta:
        model = Contact
        fields = ["id", "external_id", "name", "email", "tier", "verified"]


class HandoffSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    trigger = serializers.CharField(source="trigger.name", default="", read_only=True)
    agent = serializers.CharField(source="agent.display_name", default="", read_only=True)

    class Meta:
        model = Handoff
        fields = [
            "id",
            "team",
            "status",
            "priority",
            "reason",
            "trigger",
            "explanation",
            "agent",
            "offline",
            "promised_by",
            "queued_at",
            "offered_at",
            "answered_at",
            "closed_at",
            "sla_misses",
            "brief",
        ]


class ConversationSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    site = serializers.CharField(source="site.key", read_only=True)
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    topic = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    contact = ContactBriefSerializer(read_only=True)
    handoff = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = [
            "id",
            "site",
            "state",
            "team",
            "topic",
            "contact",
            "created_at",
            "updated_at",
            "resolved_at",
            "handoff",
        ]

    @extend_schema_field(HandoffSerializer(allow_null=True))
    def get_handoff(self, conversation: Conversation) -> dict | None:
        handoffs = conversation.handoffs.all()  # prefetched, newest first
        return HandoffSerializer(handoffs[0]).data if handoffs else None


class ConversationDetailSerializer(ConversationSerializer):
    pages = serializers.SerializerMethodField()

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "context", "pages", "last_seq"]

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_pages(self, conversation: Conversation) -> list[dict]:
        return [
            {"path": p.path, "title": p.title, "at": p.created_at}
            for p in conversation.pages.order_by("created_at")
        ]


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 moment, read in UTC: Python accepts offsets up to a day, PostgreSQL
    only up to 16 hours, and a moment near year 9999 may not exist in UTC at all."""

    def to_python(self, value: str | None) -> datetime | None:
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise DjangoValidationError(
                _("Enter a moment between the years 1 and 9999."), code="invalid"
            ) from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class ConversationFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug")
    tier = django_filters.CharFilter(field_name="contact__tier")
    reason = django_filters.CharFilter(field_name="handoffs__reason", distinct=True)
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Conversation
        fields = ["state", "team", "tier", "reason", "created_after", "created_before"]


def visible_conversations(request: Request) -> QuerySet[Conversation]:
    """Users allowed to view conversations see all; agents see their teams'."""
    conversations = Conversation.objects.select_related("site", "team", "topic", "contact")
    if not request.user.has_perm("chat.view_conversation"):
        conversations = conversations.filter(
            pk__in=agent_selectors.conversations_for(request.user).values("pk")
        )
    return conversations.prefetch_related(
        Prefetch(
            "handoffs",
            queryset=Handoff.objects.select_related("team", "trigger", "agent__user").order_by(
                "-queued_at", "-id"
            ),
        )
    )


class ConversationAccess(TokenScope):
    """Users allowed to view conversations, and agents (who see their teams')."""

    def has_permission(self, request: Request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        return request.user.has_perm("chat.view_conversation") or (
            agent_selectors.agent_for(request.user) is not None
        )


class MessageSerializer(serializers.ModelSerializer):
    page = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = [
            "seq",
            "author",
            "author_name",
            "body",
            "sources",
            "suggestions",
            "confidence",
            "intent",
            "page",
            "created_at",
        ]

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_page(self, message: Message) -> dict | None:
        return {"path": message.page.path, "title": message.page.title} if message.page else None


class AgentMessageSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=4000, trim_whitespace=True)


class ConversationViewSet(viewsets.ReadOnlyModelViewSet):
    """Conversations: state, team, the handoff with its reason, trigger and brief."""

    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    filterset_class = ConversationFilter
    ordering_fields = ["created_at", "updated_at"]
    ordering = ["-created_at", "-id"]
    permission_classes = [ConversationAccess]
    queryset = Conversation.objects.none()

    def get_queryset(self) -> QuerySet[Conversation]:
        return visible_conversations(self.request)

    def get_serializer_class(self):
        return ConversationDetailSerializer if self.action == "retrieve" else ConversationSerializer

    @extend_schema(responses=MessageSerializer(many=True))
    @action(detail=True, methods=["get"])
    def messages(self, request: Request, id: str) -> Response:
        """The transcript, oldest first (internal notes are not part of it)."""
        conversation = self.get_object()
        page = self.paginate_queryset(conversation.messages.select_related("page").order_by("seq"))
        return self.get_paginated_response(MessageSerializer(page, many=True).data)

    @extend_schema(request=AgentMessageSerializer, responses={201: MessageSerializer})
    @messages.mapping.post
    def reply(self, request: Request, id: str) -> Response:
        """Post a reply to the customer as the token's agent."""
        conversation = self.get_object()
        agent = agent_selectors.agent_for(request.user)
        if agent is None:
            raise PermissionDenied("Only an agent's token can write to customers.")
        body = AgentMessageSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            message = agent_services.agent_message_post(
                conversation=conversation, agent=agent, body=body.validated_data["body"]
            )
        except agent_services.ActionRefused as refused:
            raise ValidationError({"body": [str(refused)]}) from None
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)


# Knowledge base ----------------------------------------------------------------------------


class ArticleSerializer(serializers.Serializer):
    """The import format's fields: slug, title, team, pages, escalate, questions, body."""

    slug = serializers.SlugField(max_length=100)
    title = serializers.CharField(max_length=200)
    team = serializers.SlugField(max_length=50, required=False, default="general")
    pages = serializers.ListField(
        child=serializers.CharField(max_length=1000), required=False, default=list
    )
    escalate = serializers.BooleanField(required=False, default=False)
    questions = serializers.ListField(
        child=serializers.CharField(max_length=500), required=False, default=list
    )
    body = serializers.CharField()
    updated_at = serializers.DateTimeField(read_only=True)

    def validate_slug(self, slug: str) -> str:
        taken = Article.objects.filter(slug=slug)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise ValidationError(_("An article with this slug exists."))
        return slug

    def validate_pages(self, pages: list[str]) -> list[str]:
        for page in pages:
            if not page.startswith("/"):
                raise ValidationError(
                    _("%(page)r is not a path; paths start with /.") % {"page": page}
                )
        return pages

    def to_representation(self, article: Article) -> dict:
        return {
            "slug": article.slug,
            "title": article.title,
            "team": article.team.slug if article.team else None,
            "pages": article.pages,
            "escalate": article.escalate,
            "questions": [q.text for q in article.questions.all()],
            "body": article.body,
            "updated_at": serializers.DateTimeField().to_representation(article.updated_at)
            if article.updated_at
            else None,
        }

    def create(self, data: dict) -> Article:
        return self._save(Article(), data)

    def update(self, article: Article, data: dict) -> Article:
        return self._save(article, data)

    def _save(self, article: Article, data: dict) -> Article:
        data = dict(data)
        team_slug = data.pop("team", None)
        questions = data.pop("questions", None)
        for key, value in data.items():
            setattr(article, key, value)
        if team_slug:
            article.team, _created = Team.objects.get_or_create(
                slug=team_slug, defaults={"name": team_slug.replace("-", " ").title()}
            )
        try:
            return services.article_save(article=article, questions=questions)
        except DjangoValidationError as invalid:
            raise ValidationError(invalid.message_dict) from None


class ArticleViewSet(viewsets.ModelViewSet):
    """Knowledge-base articles. The AI uses a change from the next message on."""

    serializer_class = ArticleSerializer
    lookup_field = "slug"
    queryset = Article.objects.select_related("team").prefetch_related(
        Prefetch("questions", queryset=ExampleQuestion.objects.order_by("id"))
    )
    filterset_fields = ["escalate"]
    search_fields = ["title", "body", "slug"]
    ordering_fields = ["title", "updated_at", "slug"]
    ordering = ["title"]

    def perform_destroy(self, instance: Article) -> None:
        services.article_delete(article=instance)
