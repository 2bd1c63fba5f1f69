"""REST API for triggers (admins write) and teams."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError

from escalation.models import BusinessHours, Team, Trigger


class TriggerSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all(), allow_null=True, required=False
    )
    reason_code = serializers.CharField(read_only=True)

    class Meta:
        model = Trigger
        fields = [
            "id",
            "name",
            "kind",
            "enabled",
            "order",
            "team",
            "priority_boost",
            "reason",
            "reason_code",
            "customer_text",
            "phrases",
            "threshold",
            "trend_threshold",
            "count",
            "values",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]

    def validate(self, data: dict) -> dict:
        # The admin's own checks: a bad regular expression is refused with its reason.
        candidate = Trigger(**{**self._current(), **data})
        try:
            candidate.clean()
        except DjangoValidationError as invalid:
            raise ValidationError(invalid.message_dict) from None
        return data

    def _current(self) -> dict:
        if self.instance is None:
            return {}
        return {
            field: getattr(self.instance, field)
            for field in self.Meta.fields
            if field not in {"id", "reason_code", "updated_at"}
        }


class TriggerViewSet(viewsets.ModelViewSet):
    """The escalation rules, in order. Anyone may read; writing needs the Django permission
    to change triggers (admins). A change counts from the next message."""

    serializer_class = TriggerSerializer
    queryset = Trigger.objects.select_related("team").order_by("order", "id")
    filterset_fields = ["kind", "enabled"]
    ordering_fields = ["order", "name", "updated_at"]
    ordering = ["order", "id"]


class HoursSerializer(serializers.ModelSerializer):
    class Meta:
        model = BusinessHours
        fields = ["weekday", "opens", "closes"]


class TeamSerializer(serializers.ModelSerializer):
    hours = HoursSerializer(many=True, read_only=True)

    class Meta:
        model = Team
        fields = ["slug", "name", "sla_seconds", "timezone", "hours"]


class TeamViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = TeamSerializer
    lookup_field = "slug"
    queryset = Team.objects.prefetch_related("hours").order_by("name")
    ordering = ["name"]
