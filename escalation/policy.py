"""The default escalation policy (shared/design/escalation-policy.md), as data.

The data migration installs it on a fresh database; ``manage.py default_policy`` puts it
back. Every rule is an ordinary Trigger row that an admin can switch off, reorder, or
change in Django admin.
"""

TEAMS = [("general", "General"), ("billing", "Billing"), ("trust", "Trust & Safety")]

RISK_PHRASES = "\n".join(
    [
        "lawsuit",
        "sue you",
        "suing",
        "lawyer",
        "attorney",
        "solicitor",
        "legal action",
        # "we will sue", "I'm going to sue", without "Sue" the colleague.
        r"/\b(?:will|shall|going\s+to|gonna|'ll)\s+sue\b/",
        "fraud",
        "fraudulent",
        "scam",
        "scammed",
        "data breach",
        "breach",
        "breached",
        "hacked",
        "hacker",
        "hacking",
        "compromised",
        "police",
    ]
)

TRIGGERS = [
    {"order": 10, "name": "Explicit request for a person", "kind": "explicit_request"},
    {"order": 20, "name": "Human-only topics", "kind": "topic", "threshold": 0.4},
    {
        "order": 30,
        "name": "Chargeback",
        "kind": "phrases",
        "team": "billing",
        "reason": "risk",
        "phrases": "chargeback\ncharge back\ncharged back",
    },
    {
        "order": 31,
        "name": "Risk words",
        "kind": "phrases",
        "team": "trust",
        "reason": "risk",
        "phrases": RISK_PHRASES,
    },
    {
        "order": 40,
        "name": "Strong negative sentiment",
        "kind": "sentiment",
        "threshold": -0.6,
        "trend_threshold": -0.4,
    },
    {
        "order": 50,
        "name": "Enterprise and VIP customers",
        "kind": "tier",
        "values": "enterprise\nvip",
        "priority_boost": 10,
    },
    {"order": 60, "name": "Loop: answers that did not help", "kind": "loop", "count": 2},
    {"order": 70, "name": "Low confidence", "kind": "low_confidence", "threshold": 0.5, "count": 2},
    {"order": 80, "name": "Long conversation", "kind": "turn_count", "count": 8},
    {
        "order": 90,
        "name": "Checkout errors (example)",
        "kind": "page",
        "team": "billing",
        "values": "/checkout/error",
        "enabled": False,
    },
    {
        "order": 100,
        "name": "Customer went quiet after a question (example)",
        "kind": "idle",
        "count": 900,
        "enabled": False,
    },
]


def install(team_model, trigger_model, *, replace: bool = False) -> int:
    """Create the default teams and triggers; with replace, drop the triggers first.

    Takes the model classes so the data migration can pass its historical models.
    Returns how many triggers were created.
    """
    teams = {}
    for slug, name in TEAMS:
        teams[slug], _created = team_model.objects.get_or_create(slug=slug, defaults={"name": name})
    if replace:
        trigger_model.objects.all().delete()
    elif trigger_model.objects.exists():
        return 0
    for spec in TRIGGERS:
        fields = dict(spec)
        team = fields.pop("team", None)
        trigger_model.objects.create(team=teams[team] if team else None, **fields)
    return len(TRIGGERS)
