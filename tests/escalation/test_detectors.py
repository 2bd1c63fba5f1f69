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
        "is a human available?",
        "is there someone I can speak with?",
        "any humans around?",
        "is anybody there?",
        "give me a person",
        "I want to be transferred to a person",
        "where can I reach a human?",
        "how do I contact customer support?",
        "any chance of speaking to a human?",
        "please have somebody contact me",
        "can I get someone from sales to call me",
        "can someone from your team reach out to me by phone",
        "get someone on the phone with me",
        "I need help from a real person",
        "can I have a human look at my account",
        "could you get a member of your team to look at this",
        "is someone from support online right now?",
        "can u connect me w/ a live agent",
        "hello? anyone there?",
        "can you have a real person email me",
        "would it be possible to speak to a team member",
        "human being needed",
        "I'd like to talk to whoever handles billing",
        "no bots please, human only",
        "can somebody from billing look at my account",
        "could a member of staff contact me",
        "I need a human, this bot keeps going in circles",
        "can I get a real person please",
        "get me someone who can actually help",
        "I want someone from billing",
        "give us someone from your billing team",
        "bring your supervisor into this chat",
        "can you get a human in here",
        "I want a human being to look at this",
        "stop the bot, give me a human",
        "i need a person asap",
        "I want a human not a bot",
        "not a bot please, a real person",
        "no more bots",
        "not talking to a bot anymore",
        "are you human",
        "am I talking to a bot?",
        "is there a human I can talk to?",
        "is there anyone who can help me?",
        "escalate my ticket to a manager",
        "transfer me to someone else",
        "I'd rather deal with a human",
        "could a real person help me",
        "can a human take over",
        "I want to talk to a human to cancel my plan",
        "we need a manager on this, now",
        "I need a human 🙏",
        "i need a human can u help",
        "can I have a human",
        "could I have a real person",
        "may I have an agent",
        "a human, please",
        "I need human help",
        "is a real person reading this?",
        "are you a real person or a bot?",
        "please escalate this",
        "please escalate this ticket",
        "could you escalate this issue",
        # The customer is the one who would talk.
        "my boss wants me to speak to a real person",
        "our team wants to talk to a person",
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
        "is there a human readable log of changes",
        "can a person have two accounts",
        "can I transfer ownership of a dashboard to someone else",
        "how do I give someone view-only access",
        "is there a limit to how many people can be invited",
        "is anyone able to see my private dashboards?",
        "can my team member see billing",
        # A role, an account, a field or our monitoring agent, not someone to talk to.
        "how do I give a person access to billing?",
        "I want a manager role for my colleague",
        "I need a supervisor account that can approve exports",
        "we need an agent installed on the server to sync data",
        "how do I find a person in the member list",
        "is there a person field in the export?",
        "not the machine learning forecast, the linear one",
        "I want a person column in the CSV",
        "we need a supervisor login for the night shift",
        "I want a manager or viewer role for Sam",
        "can we get an agent token for the API",
        "how do I get a person added as an admin",
        "we want an agent for each of our Linux hosts",
        "I installed the agent now it won't start",
        "can an agent handle multiple data sources?",
        "can a person review dashboards before they're published?",
        "is there a human review step before alerts go out?",
        "is there a person-level breakdown in the report",
        "need a human-readable export",
        "I need a person's email to send the invite",
        "not the AI summary, the raw numbers please",
        "we don't want the AI features enabled",
        "is this an AI feature?",
        "does the webhook support a callback URL",
        # The customer's own people, or things they send to someone.
        "how do I chat with people in my workspace",
        "how do I contact a person in my contact list",
        "can I forward this to anyone on my team",
        "how do I send my report to someone else",
        "we need someone from our IT team to approve it",
        "how do I deal with people leaving the company",
        "I made a transfer to someone yesterday and it's not there",
        # Asking whether a person is needed, not asking for one.
        "do I have to talk to someone to close my account or can I do it myself",
        "should I contact support about this or is it documented?",
        # A contact person is a field; someone else wanting a person is their business.
        "where do I change the contact person on the account",
        "the contact person field is empty",
        "my client wants to talk to a person about their delivery",
        "can I have a person field on the form",
        "can I have an agent installed on two servers",
        "how do I escalate an alert",
        "I don't need human help, just tell me where the button is",
        "I need real help with this formula",
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
        "no that's not it",
        "wrong answer",
        "that answer is wrong",
        "this doesn't answer my question",
        "not helpful",
        "not what I'm asking",
        "I've done all of that already",
        "tried all of those steps, nothing",
        "you already told me that",
        "no, the problem is still there",
        "that was useless",
        "this hasn't helped",
        "this did nothing",
        "I've checked all of that already",
        # Partly working is not working.
        "tried it, it works on my laptop but still fails on the phone",
        "did that and it worked once, then the same error again",
        "I did that and it works only half the time",
        "did that and it works fine on the web, but the app crashes",
        # Something else not tried yet does not undo what failed.
        "I did that and it didn't work, haven't tried the other one yet",
        "I haven't done that yet, but I tried the reset and it did nothing",
    ],
)
def test_rejections_of_an_answer_are_recognised(text):
    assert rejects_answer(text)


@pytest.mark.parametrize(
    "text",
    [
        "thanks, that worked",
        "how do I export a chart",
        "great, it's fixed now",
        "what if a charge that is not correct shows up?",
        "the total is wrong, that's not what we agreed",
        "I double checked that the account details are right",
        # Doing what the answer said, and it worked; or not having tried it yet.
        "did that and it worked, thanks!",
        "tried it, works perfectly",
        "I followed your steps and it's fixed now",
        "tried it again on the other printer, works perfectly too",
        "done that, all good now",
        "I haven't tried that yet",
        "not tried it yet, will do tonight",
        "I haven't yet tried that",
        "that worked, thanks, but how do I export as pdf?",
    ],
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


@pytest.mark.parametrize(
    "text",
    [
        "I've been waiting for days and nothing works",
        "horrible experience",
        "absolutely pathetic service",
        "I'm really angry",
        "this is driving me crazy",
        "I'm losing my patience",
        "I've had it with this app",
        "I'm done with this, we're cancelling",
        "I'm going to cancel if this isn't fixed today",
        "you've wasted a whole day of my time",
        "this is the third time I'm asking and still no answer",
        "why does nothing ever work with you guys",
        "we've been down for two days and nobody cares",
        "this is a total joke",
        "I hate this app",
        "i'm fuming",
        "you have wasted so much of our time",
        "we're seriously thinking of leaving over this",
        # A denial nearby is not a denial of the anger.
        "it's not working and nobody answers",
        "not again, this is ridiculous",
        "isn't this ridiculous?",
        "I've never been more angry in my life",
        "not only useless but also slow",
    ],
)
def test_frustration_in_many_wordings_is_strongly_negative(text):
    assert sentiment(text).strong and sentiment(text).score <= -0.6


@pytest.mark.parametrize(
    "text",
    [
        "the export is a bit slow",
        "it's slightly annoying that I have to log in again",
        "the layout is a little cluttered",
        "I'm done with this step, what next?",
        "can I cancel if I'm on the annual plan?",
        "tell me a joke",
        # Anger denied, politeness, and problems reported plainly.
        "I'm not angry, just curious: can I print labels in bulk?",
        "it's not awful at all, but how do I print in bulk?",
        "I hate to bother you, where do I find my invoices?",
        "the export fails with an error",
        "the carrier rejected the label, what's wrong?",
        "can you kill the old label?",
        "the label printer is dead, how do I print as PDF?",
        "I don't hate this app",
    ],
)
def test_grumbles_and_plain_questions_are_not_strongly_negative(text):
    assert not sentiment(text).strong and sentiment(text).score > -0.6


def test_a_negation_does_not_reach_across_a_comma():
    """VADER alone reads "doesn't ... annoying" as praise; the comma ends the negation."""
    assert sentiment("the link they got doesn't open, that's annoying").negative
    assert not sentiment("no worries, thanks").negative
    assert sentiment("it doesn't work, sadly").negative
