import pytest

from escalation.detectors import rejects_answer, sentiment, wants_human


@pytest.mark.parametrize(
    "text",
    [
        "can I talk to a person?",
        "agent please",
        "HUMAN",
        "operator!",
        "get me your manager",
        "is there a real human there?",
        "I'd like to speak with someone from your billing team",
        "transfer me to customer service",
        "put me through to a supervisor",
        "connect me with support please",
        "could someone from sales call me tomorrow?",
        "are you a bot? I want a real person",
        "I don't want a chatbot, I need help from an actual human",
        "can a human look at my account",
        "please let me chat with a live agent",
        "I need a person who works there",
    ],
)
def test_requests_for_a_person_are_recognised_in_many_wordings(text):
    assert wants_human(text)


@pytest.mark.parametrize(
    "text",
    [
        "can my teammate see this dashboard?",
        "my manager wants the report every Monday",
        "our support team uses the API",
        "the monitoring agent on our server gets 429s",
        "how do I invite people to my workspace",
        "make the export human-readable please",
        "can someone outside my company open the link?",
        "how do I connect to our Slack?",
        "a colleague is leaving, remove his access",
        "what does the user agent header need to be",
    ],
)
def test_mentions_of_people_are_not_requests(text):
    assert not wants_human(text)


@pytest.mark.parametrize(
    "text",
    [
        "that didn't work",
        "still broken",
        "I already tried that",
        "did that, same error",
        "no luck, it still says failed",
        "tried again, nothing changed",
    ],
)
def test_rejections_of_an_answer_are_recognised(text):
    assert rejects_answer(text)


@pytest.mark.parametrize(
    "text",
    ["thanks, that worked", "how do I export a chart", "great, it's fixed now"],
)
def test_ordinary_messages_are_not_rejections(text):
    assert not rejects_answer(text)


def test_a_grumble_is_mildly_negative_and_anger_strongly():
    grumble = sentiment("the export is a bit clunky")
    angry = sentiment("this is ridiculous, worst service I have ever paid for")
    neutral = sentiment("how do I add a user")
    assert grumble.negative and not grumble.strong and grumble.score > -0.5
    assert angry.strong and angry.score <= -0.6
    assert not neutral.negative


def test_shouting_makes_a_complaint_stronger():
    quiet = sentiment("it failed again this morning")
    loud = sentiment("it FAILED again this morning")
    assert loud.score < quiet.score
