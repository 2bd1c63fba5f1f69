"""What the escalation rules notice in a customer's message.

* ``wants_human``: an explicit request for a person, in many wordings, while a message
  that only mentions people ("my manager wants a report", "our monitoring agent") is not.
* ``rejects_answer``: the customer says the last answer did not help.
* ``sentiment``: VADER, extended with words customers use about software and with
  intensity cues, so "a bit clunky" is mildly negative and "a complete joke" strongly so.

These read English. Other languages still reach a human through the other rules (low
confidence, long conversations) and through a trigger's own phrase list.
"""

import re
from dataclasses import dataclass
from functools import cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

# Explicit requests ---------------------------------------------------------------------

_HUMAN_NOUN = (
    r"(?:human(?:s|\s+being)?|person|people|someone|somebody|some\s+one|anyone|"
    r"agent|representative|rep|operator|manager|supervisor|team\s*lead(?:er)?|boss|"
    r"staff(?:\s+member)?|employee|advisor|adviser|specialist|consultant|"
    r"member\s+of\s+(?:your\s+)?(?:staff|team|support)|"
    r"sales\s*(?:person|rep|team|side|people)?|support(?:\s+(?:person|staff|team|people|agent))?|"
    r"customer\s+(?:service|support|care)|engineer|technician|colleague\s+of\s+yours)"
)
_REAL = (
    r"(?:(?:a|an|the|your|one\s+of\s+your|some|any|real|actual|live|proper|human|"
    r"flesh(?:\s+and\s+blood)?)\s+)*"
)

_REQUEST_PATTERNS = [
    # "can I talk to a person", "I'd rather go through this with an actual person"
    rf"\b(?:talk|speak|chat|converse|go\s+through\s+this|discuss\s+(?:this|it)|deal)\s+"
    rf"(?:to|with)\s+{_REAL}{_HUMAN_NOUN}\b",
    # "put me through to a supervisor", "transfer me to an agent", "escalate this to"
    rf"\b(?:put|connect|transfer|pass|forward|escalate|hand|send|route|redirect)\s+"
    rf"(?:me|us|this|my\s+\w+)?\s*(?:through|over|on)?\s*to\s+{_REAL}{_HUMAN_NOUN}\b",
    # "get me your manager", "please get your team lead on this chat", "bring a human in"
    rf"\b(?:get|bring|fetch|find|need|want)\s+(?:me\s+|us\s+)?{_REAL}"
    rf"(?:human|person|agent|representative|operator|manager|supervisor|team\s*lead(?:er)?|"
    rf"staff|someone\s+(?:real|who\s+(?:actually\s+)?works))\b",
    # "can someone from your sales side give me a ring", "could one of you call me"
    r"\b(?:can|could|would|will|please)\s+(?:someone|somebody|one\s+of\s+you|a\s+person|"
    r"an?\s+(?:agent|human)|your\s+\w+(?:\s+\w+)?)\b[^.?!]{0,40}?\b(?:call|ring|phone|contact|"
    r"reach)\s+(?:me|us)\b",
    r"\b(?:give|gimme)\s+(?:me|us)\s+a\s+(?:call|ring|phone\s*call|callback)\b",
    # "connect me with support", "put me in touch with your sales team"
    rf"\b(?:connect|put|get)\s+(?:me|us)\s+(?:in\s+touch\s+)?with\s+{_REAL}{_HUMAN_NOUN}\b",
    # "can a human look at this?"
    r"\b(?:can|could|would)\s+(?:a|an)\s+(?:real\s+|actual\s+|live\s+)?"
    r"(?:human|person|agent|engineer)\s+(?:look|check|help|review|take|have)\b",
    r"\b(?:any|some)(?:body|one)\s+(?:real|human|alive)\b",
    r"\b(?:don'?t|do\s+not)\s+want\s+(?:to\s+(?:talk|speak|chat)\s+(?:to|with)\s+)?"
    r"(?:a|an|the|this|your)?\s*(?:bot|robot|machine|ai|chatbot)\b",
    r"\b(?:call|ring|phone)\s+me\s+back\b|\bcall\s*back\b|\bcallback\b",
    # "is there a real human there", "are there any real humans on this chat", "are you a bot"
    r"\b(?:is|are)\s+(?:there|you|this)\s+(?:a|an|any)?\s*(?:real|actual|live)\s+"
    r"(?:human|person|people|agent)s?\b",
    r"\b(?:is|are)\s+(?:there|you)\s+(?:a|any)\s+(?:human|person|people)s?\b",
    r"\b(?:is\s+this|are\s+you)\s+(?:a|an|just\s+a)\s+(?:bot|robot|machine|ai)\b",
    # "not the machine", "instead of a bot"
    r"\b(?:not|instead\s+of|rather\s+than|no\s+more)\s+(?:a|an|the|this|your)?\s*"
    r"(?:bot|robot|machine|ai|chatbot|automated)\b",
    # "I want a human", "I'd like a real person", "need a person who actually works there"
    rf"\b(?:i|we)\s*(?:'d|would)?\s*(?:want|need|like|prefer|demand|request)\s+(?:to\s+\w+\s+(?:to|with)\s+)?"
    rf"{_REAL}(?:human|person|agent|representative|operator|manager|supervisor)\b",
    r"\bperson\s+who\s+(?:actually\s+)?works\s+(?:there|here|at|for)\b",
    r"\b(?:human|real\s+person|live\s+(?:agent|person|chat)|agent)\s+(?:please|pls|plz|now|asap)\b",
]
_REQUEST = [re.compile(p, re.IGNORECASE) for p in _REQUEST_PATTERNS]

# A message that is nothing but a call for a person: "human", "operator!", "agent pls".
_ALONE = re.compile(
    r"^\W*(?:(?:a|an|the|real|actual|live|human|please|pls|plz|now|i\s+want|want|need|"
    r"speak\s+to|talk\s+to)\s+)*(?:human|person|agent|operator|representative|rep|manager|"
    r"supervisor|someone|somebody|customer\s+service|support)s?(?:\s+(?:please|pls|plz|now))*\W*$",
    re.IGNORECASE,
)
# People who belong to the customer, not to us: "my manager", "our support team".
_THEIR_PEOPLE = re.compile(
    r"\b(?:my|our|his|her|their|the\s+client'?s?|a\s+client'?s?)\s+(?:\w+\s+)?"
    r"(?:manager|boss|team(?:\s*lead)?|colleague|supervisor|support\s+team|agent|staff|"
    r"people|consultant|engineer|person)\b",
    re.IGNORECASE,
)


def wants_human(text: str) -> bool:
    """True when the customer asks for a person, not when they only mention one."""
    if _ALONE.match(text.strip()):
        return True
    for pattern in _REQUEST:
        match = pattern.search(text)
        if match is None:
            continue
        # "can my manager talk to ..." or "our support team wants to ..." are mentions.
        their = _THEIR_PEOPLE.search(match.group(0))
        if their is None:
            return True
    return False


# Rejections of an answer ---------------------------------------------------------------

_REJECTION = re.compile(
    r"\b(?:"
    r"(?:did\s*n[o']?t|does\s*n[o']?t|do\s*n[o']?t|wo\s*n[o']?t|is\s*n[o']?t|was\s*n[o']?t|"
    r"ca\s*n[o']?t|not|never)\s+(?:\w+\s+)?(?:work|help|fix|solve|change|save|load|"
    r"connect|arrive|come|go\s+through|do\s+anything|make\s+a\s+difference)\w*"
    r"|still\s+(?:fail|failing|fails|broken|not|nothing|the\s+same|says|say|doesn|does|"
    r"won|can|get|getting|shows|showing|stuck|erroring|errors|no|same|happening|wrong|"
    r"aren|isn|keeps|bounces|declin)\w*"
    r"|same\s+(?:failure|error|problem|issue|thing|result|message|story)"
    r"|already\s+(?:tried|did|done|have|had|put|added|invited|checked|enabled|set|followed|"
    r"changed|reset|restarted|cleared|updated|looked)"
    r"|(?:did|done|tried|followed)\s+(?:that|this|it|those|these|everything|all\s+that)"
    r"|tried\s+(?:another|again|a\s+different|twice|both)"
    r"|no\s+(?:luck|joy|change|difference|dice)"
    r"|nothing\s+(?:changed|happens|happened|works|worked)"
    r"|keeps\s+(?:going|failing|saying|happening|logging|giving|coming)"
    r"|(?:that|this|it)\s+(?:was\s*n[o']?t|is\s*n[o']?t)\s+(?:it|helpful|what)"
    r"|(?:not|n't)\s+what\s+i\s+(?:asked|meant|need)"
    r")",
    re.IGNORECASE,
)


def rejects_answer(text: str) -> bool:
    """True when the customer says what they were told did not work or did not help."""
    return _REJECTION.search(text) is not None


# Sentiment -----------------------------------------------------------------------------

# Words customers use about software that VADER does not score, or scores as if they were
# about something else ("joke" is fun elsewhere; in support it is contempt).
_LEXICON = {
    "clunky": -1.2,
    "fiddly": -1.0,
    "sluggish": -1.0,
    "laggy": -1.2,
    "buggy": -1.5,
    "flaky": -1.2,
    "janky": -1.3,
    "confusing": -1.0,
    "unintuitive": -1.2,
    "pricey": -0.6,
    "overpriced": -1.5,
    "slow": -0.6,
    "unusable": -2.2,
    "useless": -2.0,
    "joke": -1.8,
    "ridiculous": -2.0,
    "unacceptable": -2.4,
    "embarrassing": -1.8,
    "fed": -0.5,
    "mess": -1.6,
    "garbage": -2.3,
    "rubbish": -2.0,
    "nightmare": -2.2,
    "wasted": -1.8,
    "outrageous": -2.2,
    "incompetent": -2.3,
    "appalling": -2.5,
    "worst": -3.0,
    "furious": -2.8,
    "livid": -2.8,
    "sick": -1.2,
    "tired": -0.8,
    "hopeless": -2.0,
    "broken": -1.4,
    "scam": -2.5,
    "pain": -1.3,
}
# Things that make frustration unmistakable, whatever VADER makes of the rest.
_STRONG = re.compile(
    r"\b(?:ridiculous|unacceptable|worst|complete\s+joke|beyond\s+a\s+joke|fed\s+up|"
    r"sick\s+(?:and\s+tired|of)|wasted\s+my|waste\s+of\s+(?:time|money)|useless|unusable|"
    r"garbage|rubbish|nightmare|disgrace|appalling|outrageous|incompetent|furious|livid|"
    r"switch(?:ing)?\s+to\s+(?:a\s+)?(?:competitor|another)|cancel(?:ling)?\s+(?:everything|"
    r"our\s+account)|never\s+again|had\s+enough|this\s+is\s+a\s+(?:mess|disaster|joke)|"
    r"whole\s+thing\s+is\s+a\s+mess|for\s+(?:two|three|several|\d+)\s+days\s+and\s+nothing|"
    r"what\s+a\s+(?:joke|mess|disaster))\b|😡|🤬|😤|💩",
    re.IGNORECASE,
)
_HEDGE = re.compile(
    r"\b(?:a\s+(?:bit|little|tad)|bit\s+of\s+a|slightly|somewhat|kind\s+of|kinda|sort\s+of|"
    r"a\s+touch)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Sentiment:
    """-1 (furious) to 1 (delighted); ``strong`` marks unmistakable frustration."""

    score: float
    strong: bool

    @property
    def negative(self) -> bool:
        return self.score <= -0.05


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    analyzer = SentimentIntensityAnalyzer()
    analyzer.lexicon.update({word: value for word, value in _LEXICON.items()})
    return analyzer


def sentiment(text: str) -> Sentiment:
    score = _analyzer().polarity_scores(text)["compound"]
    strong_cue = _STRONG.search(text) is not None
    shouting = sum(1 for w in re.findall(r"\b[A-Z]{4,}\b", text)) >= 1 and score < 0
    if strong_cue:
        score = min(score, -0.6)
    elif _HEDGE.search(text) and score < 0:
        # "a bit clunky" is a grumble, not anger: it stays negative but mild.
        score = max(score, -0.45)
    if shouting:
        score = max(-1.0, score - 0.2)
    return Sentiment(score=round(score, 3), strong=strong_cue)
