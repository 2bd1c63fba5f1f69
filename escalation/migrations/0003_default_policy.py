"""Install the default escalation policy, so a fresh install behaves as the policy says."""

from django.db import migrations


def forwards(apps, schema_editor):
    from escalation import policy

    policy.install(apps.get_model("escalation", "Team"), apps.get_model("escalation", "Trigger"))


def backwards(apps, schema_editor):
    from escalation import policy

    apps.get_model("escalation", "Trigger").objects.filter(
        name__in=[spec["name"] for spec in policy.TRIGGERS]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("escalation", "0002_triggers_handoffs")]
    operations = [migrations.RunPython(forwards, backwards)]
