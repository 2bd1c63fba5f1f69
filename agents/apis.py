"""REST API for agents' presence and the dashboard figures."""

import datetime as dt

from django.db.models import Count, Q
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import metrics
from agents.models import Agent
from escalation.models import Handoff, Team


class AgentSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="display_name", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    teams = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    load = serializers.IntegerField(read_only=True)

    class Meta:
        model = Agent
        fields = [
            "id",
            "username",
            "name",
            "teams",
            "presence",
            "capacity",
            "load",
            "is_supervisor",
            "last_seen_at",
        ]


class AgentViewSet(viewsets.ReadOnlyModelViewSet):
    """Who is online, in which teams, and how many conversations each one holds."""

    serializer_class = AgentSerializer
    queryset = (
        Agent.objects.select_related("user")
        .prefetch_related("teams")
        .annotate(
            load=Count(
                "handoffs",
                filter=Q(handoffs__status__in=[Handoff.Status.OFFERED, Handoff.Status.ANSWERED]),
            )
        )
        .order_by("user__username")
    )
    filterset_fields = ["presence", "teams__slug"]


class FiguresSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    team = serializers.CharField(allow_null=True)
    conversations = serializers.IntegerField()
    ai_resolved = serializers.IntegerField()
    handed_off = serializers.IntegerField()
    ai_resolution_rate = serializers.FloatField(allow_null=True)
    handoff_rate = serializers.FloatField(allow_null=True)
    time_to_human_median = serializers.FloatField(allow_null=True)
    time_to_human_p90 = serializers.FloatField(allow_null=True)
    estimate_error_median = serializers.FloatField(allow_null=True)
    estimate_within_30 = serializers.FloatField(allow_null=True)
    estimates_measured = serializers.IntegerField()
    sla_misses = serializers.IntegerField()
    sla_miss_rate = serializers.FloatField(allow_null=True)
    csat_ai = serializers.FloatField(allow_null=True)
    csat_human = serializers.FloatField(allow_null=True)
    repeat_contact_rate = serializers.FloatField(allow_null=True)
    by_reason = serializers.DictField(child=serializers.IntegerField())
    by_trigger = serializers.DictField(child=serializers.IntegerField())
    by_day = serializers.ListField(child=serializers.DictField())


class FiguresView(APIView):
    """The dashboard's figures for the last N days, optionally for one team."""

    # Figures mix every model; reading them is a supervisor's view of the handoffs.
    queryset = Handoff.objects.none()

    @extend_schema(
        parameters=[
            OpenApiParameter("days", int, description="1 to 366, default 30"),
            OpenApiParameter("team", str, description="a team's slug"),
        ],
        responses=FiguresSerializer,
    )
    def get(self, request: Request) -> Response:
        try:
            days = int(request.query_params.get("days", 30))
        except ValueError:
            raise ValidationError({"days": [_("A whole number of days.")]}) from None
        if not 1 <= days <= 366:
            raise ValidationError({"days": [_("Between 1 and 366.")]})
        team = None
        if slug := request.query_params.get("team"):
            team = Team.objects.filter(slug=slug).first()
            if team is None:
                raise ValidationError({"team": [_("No team %(slug)r.") % {"slug": slug}]})
        period = metrics.Period.last(days, team=team)
        figures = metrics.figures(period)
        data = {
            "start": period.start,
            "end": period.end,
            "team": team.slug if team else None,
            **{
                name: getattr(figures, name)
                for name in FiguresSerializer().fields
                if hasattr(figures, name) and name not in {"by_reason", "by_trigger", "by_day"}
            },
            "by_reason": dict(figures.by_reason),
            "by_trigger": {name or "": n for name, n in figures.by_trigger},
            "by_day": [
                {
                    **row,
                    "day": row["day"].isoformat()
                    if isinstance(row["day"], dt.date)
                    else row["day"],
                }
                for row in figures.by_day
            ],
        }
        return Response(FiguresSerializer(data).data)
