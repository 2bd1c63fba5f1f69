"""Property-based: every operation of the OpenAPI schema, driven by Schemathesis against
the app itself. No request may cause a server error or get an answer the schema does not
describe."""

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from agents import services as agent_services
from tests import factories
from tests.factories import say

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES_PER_OPERATION = 10


@pytest.fixture
def bearer(demo_kb, admin_user):
    # Real data for the operations to find: a handed-off conversation.
    conversation = factories.conversation(on=demo_kb, path="/settings/billing")
    say(conversation, "where are my invoices?", path="/settings/billing")
    say(conversation, "agent please")
    _token, key = agent_services.api_token_issue(name="fuzz", user=admin_user, scope="read_write")
    return {"Authorization": f"Bearer {key}"}


def test_no_request_breaks_the_api_or_its_schema(bearer, settings):
    settings.BATON_API_RATE = "100000/min"
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:
            # A schema-valid request may still clash with the data (a slug already taken),
            # which the API rightly refuses: that check does not apply.
            case.call_and_validate(headers=bearer, excluded_checks=[positive_data_acceptance])

        check()
