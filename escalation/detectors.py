"""What the escalation rules notice in a customer's message.

* ``wants_human``: an explicit request for a person, in many wordings, while a message
  that only mentions people ("my manager wants a report", "our monitoring agent", "a person
  field", "do I have to talk to someone to close my account?") is not.
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
    r"member\s+of\s+(?:your\s+)?(?:staff|team|support)|team\s+member|"
    r"sales\s*(?:person|rep|team|side|people)?|support(?:\s+(?:person|staff|team|people|agent))?|"
    r"customer\s+(?:service|support|care)|engineer|technician|colleague\s+of\s+yours)"
)
# The people a customer asks for with a weak verb ("I need a …", "get me a …"), where the
# word alone could also name a role, an account or our monitoring agent.
_ASKED = (
    r"(?:human(?:s|\s+being)?|person|agent|representative|operator|manager|supervisor|"
    r"team\s*lead(?:er)?|staff(?:\s+member)?|"
    r"some(?:one|body)(?:\s+(?:real|who\s+(?:actually\s+)?works)|(?=\s+from\b)))"
)
# "someone from billing", "anybody from your sales team"
_FROM_TEAM = r"\s+from\s+(?:your\s+|the\s+)?\w+(?:\s+team)?"
_REAL = (
    r"(?:(?:a|an|the|your|one\s+of\s+your|some|any|real|actual|live|proper|human|"
    r"flesh(?:\s+and\s+blood)?)\s+)*"
)
# Where what was said ends: the end of the message, punctuation or an emoji, but not a
# hyphen or an apostrophe, which carry the word on ("human-readable", "person's").
_END = r"\s*(?:$|[^\w\s'\u2019-])"
# What follows the person, or the bot, in a request: the end, "please" or "now", where or
# who they should be ("on this chat", "from billing", "who works there"), what they should
# do ("to help me"), or the next clause ("or someone", "not a bot", "so I can ..."). A noun
# or a participle after the word makes it a mention: "a person field", "a manager role",
# "a supervisor account", "an agent installed", "machine learning", "the AI summary".
_ASKED_FOR = (
    rf"(?={_END}|\s+-|\s+(?:"
    r"please|pls|plz|now|asap|as\s+soon|urgently|immediately|today|right\s+(?:now|away)|"
    r"here|there|instead|again|already|any\s*more|thanks|thank|ty|available|around|online|"
    rf"(?:on|in|into)\s+(?:this|the)\s+(?:chat|conversation|call|line|phone|case)|"
    rf"(?:(?:on|in|into)\s+(?:this|here)|in)(?={_END})|in\s+your|at\s+your|from|"
    r"who|that\s+(?:can|could|will|would|actually|really|knows?|works?|understands?)|"
    r"to\s+(?:help|talk|speak|chat|look|check|call|ring|phone|contact|email|review|handle|"
    r"sort|deal|explain|answer|assist|get|go|walk|take|fix|discuss)|about|regarding|"
    r"for\s+(?:this|that|it|help|me|us|my|our)|with\s+(?:this|that|it|me|us|my|our)|"
    rf"(?:and|or)\s+(?:{_REAL}{_HUMAN_NOUN}|(?:just\s+)?an?\s+(?:bot|robot|machine|ai|chatbot)|"
    r"not|now|i|we|please|whoever|something|anything)|"
    r"but|because|cause|cos|cuz|so|since|if|not|rather|than|"
    r"(?:i|we)\s+(?:can|could)\s+(?:talk|speak|chat|call|ask|reach)|"
    r"can|could|just|let|give|get|put|connect|transfer"
    r")\b)"
)
# People in the customer's own organisation, named after the word: "anyone on my team",
# "people in my workspace", "a person in our contact list".
_NOT_THEIRS = r"(?!\s+(?:else\s+)?(?:in|on|from|at|of|within)\s+(?:my|our)\b)"
_BOT = r"(?:bot|robot|machine|ai|chatbot|automated)s?"

_REQUEST_PATTERNS = [
    # "can I talk to a person", "I'd rather go through this with an actual person"
    rf"\b(?:(?:talk|speak|chat|converse)(?:ing)?|go(?:ing)?\s+through\s+this|"
    rf"discuss(?:ing)?\s+(?:this|it))\s+(?:to|with)\s+{_REAL}{_HUMAN_NOUN}\b{_NOT_THEIRS}",
    # "I'd rather deal with a human", not "how do I deal with people leaving the company"
    rf"\bdeal(?:ing)?\s+with\s+{_REAL}{_HUMAN_NOUN}\b{_ASKED_FOR}{_NOT_THEIRS}",
    # "put me through to a supervisor", "transfer me to an agent", "escalate to a manager";
    # not a noun: "I made a transfer to someone"
    r"(?<!\ba\s)(?<!\ban\s)(?<!\bthe\s)(?<!\bmy\s)(?<!\bour\s)(?<!\byour\s)(?<!\bany\s)"
    r"(?<!\bbank\s)\b(?:put|connect|transfer|pass|forward|escalate|hand|send|route|redirect)"
    rf"\s+(?:(?:me|us)\s+)?(?:(?:through|over|on)\s+)?to\s+{_REAL}{_HUMAN_NOUN}\b{_NOT_THEIRS}",
    # "escalate this to a manager", "pass my case on to a human"; not "send my report to
    # someone" or "forward this to someone else", which is the customer sharing a thing
    r"\b(?:pass|forward|escalate|hand|send|route|redirect|transfer)\s+(?:this|it|my\s+(?:case|"
    r"ticket|issue|question|request|query|problem|complaint|chat|conversation|enquiry|inquiry))"
    rf"\s+(?:(?:through|over|on)\s+)?to\s+{_REAL}{_HUMAN_NOUN}\b(?!\s+else){_NOT_THEIRS}",
    # "I want to be transferred to a person", "can I be put through to a human?"
    rf"\b(?:be|get|being)\s+(?:transferred|put\s+through|connected|passed(?:\s+on)?|"
    rf"forwarded|escalated|routed|handed\s+over|sent\s+over)\s+to\s+{_REAL}{_HUMAN_NOUN}\b",
    # "where can I reach a human?", "how do I contact a real person?"; not "a person in my
    # contact list"
    r"(?<!\bthe\s)(?<!\ba\s)(?<!\bmy\s)(?<!\bour\s)(?<!\byour\s)"
    rf"\b(?:reach|contact|get\s+hold\s+of|get\s+through\s+to)\s+{_REAL}"
    rf"(?:human|person|agent|representative|operator|staff|someone\s+real|"
    rf"support(?:\s+team)?|customer\s+(?:service|support|care))s?\b{_NOT_THEIRS}",
    # "get me your manager", "give us someone from billing", "find me a person who knows";
    # the customer is who it is for, not "give a person access" or "find a person in a list"
    rf"\b(?:get|give|gimme|bring|fetch|find)\s+(?:me|us)\s+{_REAL}(?:{_ASKED}|some(?:one|body))"
    rf"\b{_ASKED_FOR}{_NOT_THEIRS}",
    # "can I get a real person please", "please get your team lead on this chat";
    # not "get a person added as admin" or "get an agent token"
    rf"\b(?:get|bring|fetch)\s+{_REAL}{_ASKED}\b{_ASKED_FOR}{_NOT_THEIRS}",
    # "can I have a human", "may we have a real person please"; not "can I have a person
    # field" or "can I have an agent installed"
    rf"\b(?:can|could|may)\s+(?:i|we)\s+(?:please\s+)?have\s+{_REAL}{_ASKED}\b{_ASKED_FOR}"
    rf"{_NOT_THEIRS}",
    # "I need human help", "we'd like some human support"
    r"(?<!n't\s)(?<!\bnot\s)(?<!\bdont\s)\b(?:need|want|like|prefer)\s+(?:some\s+)?"
    r"(?:human|personal)\s+(?:help|support|assistance)\b",
    # "please escalate this", "can you escalate my case"; not "how do I escalate an alert"
    r"\bescalate\s+(?:it|(?:this|my)(?:\s+(?:case|ticket|issue|complaint|question|request|"
    rf"problem))?)(?={_END}|\s+"
    r"(?:please|pls|now|asap|urgently|immediately|to\s+(?:a|an|the|your)\b))",
    # "can someone from your sales side give me a ring", "could one of you call me"
    r"\b(?:can|could|would|will|please)\s+(?:someone|somebody|one\s+of\s+you|a\s+person|"
    r"an?\s+(?:agent|human)|a\s+member\s+of\s+(?:your\s+)?(?:staff|team|support)|"
    r"your\s+\w+(?:\s+\w+)?)\b[^.?!]{0,40}?\b(?:call|ring|phone|contact|"
    r"reach)\s+(?:me|us)\b",
    r"\b(?:give|gimme)\s+(?:me|us)\s+a\s+(?:call|ring|phone\s*call|callback)\b",
    # "please have somebody contact me", "can I get someone from sales to call me"
    r"\b(?:have|get|send)\s+(?:someone|somebody|(?:a|an)\s+(?:real\s+|actual\s+|live\s+)?"
    r"(?:person|agent|human|rep)|"
    r"one\s+of\s+(?:you|your\s+\w+)|a\s+member\s+of\s+(?:your|the)\s+(?:team|staff|support))\b"
    r"(?:\s+[\w']+){0,5}?\s+(?:to\s+)?(?:(?:call|ring|phone|contact|email|reach|help|assist)\s+"
    r"(?:me|us)|(?:look|check)\s+(?:at|into)\s+(?:this|it|my|our))\b",
    # "can someone from sales reach out to me", "could somebody get back to us"
    r"\b(?:someone|somebody|one\s+of\s+you)\b(?:\s+[\w']+){0,4}?\s+(?:reach\s+out|get\s+back|"
    r"get\s+in\s+touch)\s+(?:to|with)\s+(?:me|us)\b",
    # "get someone on the phone with me"
    rf"\b(?:get|put)\s+(?:me\s+)?{_REAL}{_HUMAN_NOUN}\s+on\s+the\s+(?:phone|line)\b",
    # "I need help from a real person"
    r"\bhelp\s+from\s+(?:a|an|the|your)?\s*(?:real\s+|actual\s+|live\s+)*"
    r"(?:human|person|agent|representative|staff|support\s+team|someone\s+real)\b",
    # "connect me with support", "put me in touch with your sales team"
    rf"\b(?:connect|put|get)\s+(?:me|us)\s+(?:in\s+touch\s+)?with\s+{_REAL}{_HUMAN_NOUN}\b",
    # "can a human look at this?", "can I have a human look at my account", "could a person
    # help me"; with the customer's case as the object, not "can an agent handle multiple
    # sources" or "can a person review dashboards before they're published"
    r"\b(?:can|could|would|have|get|let)\s+(?:a|an)\s+(?:real\s+|actual\s+|live\s+)?"
    r"(?:human|person|agent|engineer)\s+(?:(?:look|check|help|review|handle|deal|sort|go)"
    rf"(?:\s+(?:at|into|over|with|out|through))?(?={_END}|\s+(?:me|us|this|it|that|my|our)\b)|"
    r"take\s+(?:a\s+look|over)|have\s+a\s+look)",
    # "is a human available?", "is there someone I can speak with?", "is anybody there?"
    rf"\b(?:is|are)\s+(?:there\s+)?{_REAL}(?:humans?|persons?|people|agents?|"
    rf"representatives?|staff|any(?:one|body)|some(?:one|body))"
    rf"(?:{_FROM_TEAM})?\s+(?:available|around|online|"
    rf"there|here|working\s+(?:there|here|today|now)|on\s+(?:this|the)\s+(?:chat|line)|"
    rf"(?:reading|seeing|watching)\s+(?:this|these|my\s+messages?)(?={_END})|"
    rf"(?:i|we)\s+can\s+(?:talk|speak|chat)|"
    rf"who\s+(?:can|could)\s+(?:help|assist|talk|speak|chat))\b",
    # "can somebody from billing look at my account"
    rf"\b(?:can|could|would|will)\s+(?:some(?:one|body)|one\s+of\s+you){_FROM_TEAM}\s+"
    rf"(?:look|check|help|review|handle|call|contact|get\s+back)\b",
    # "no bots please, human only"
    r"\b(?:humans?|real\s+people|a\s+person)\s+only\b",
    # "hello? anyone there?", "anybody from the team around?"
    rf"^\W*(?:(?:hello|hi|hey|um+|erm?)\W+)*(?:any|some)(?:one|body)(?:{_FROM_TEAM})?\s+"
    rf"(?:there|here|around|available|online)\W*$",
    # "I'd like to talk to whoever handles billing"
    r"\b(?:talk|speak|chat)(?:ing)?\s+(?:to|with)\s+whoever\b",
    # "any humans around?"
    r"\b(?:any|a)\s+(?:real\s+|actual\s+|live\s+)?(?:humans?|people|persons?|agents?)\s+"
    r"(?:around|available|online|there|here)\b",
    r"\b(?:any|some)(?:body|one)\s+(?:real|human|alive)\b",
    # "I don't want to talk to a bot", not "we don't want the AI features enabled"
    r"\b(?:don'?t|do\s+not)\s+want\s+(?:to\s+(?:talk|speak|chat)\s+(?:to|with)\s+)?"
    rf"(?:a|an|the|this|your)?\s*{_BOT}\b{_ASKED_FOR}",
    # "call me back", "can I get a callback"; not "a callback URL"
    r"\b(?:call|ring|phone)\s+me\s+back\b|\bcall\s*back\b(?!\s*(?:url|uri|function|handler|"
    r"endpoint|method|hook|param))",
    # "is there a real human there", "are there any real humans on this chat", "are you a bot"
    r"\b(?:is|are)\s+(?:there|you|this)\s+(?:a|an|any)?\s*(?:real|actual|live)\s+"
    rf"(?:human|person|people|agent)s?\b{_ASKED_FOR}",
    # "are you a human?", "is there a person I can talk to"; not "is there a person field"
    # or "is there a human review step"
    rf"\b(?:is|are)\s+(?:there|you)\s+(?:(?:a|any)\s+)?(?:human|person|people)s?\b{_ASKED_FOR}",
    # "are you a bot?", "is this just a machine"; not "is this an AI feature"
    rf"\b(?:is\s+this|are\s+you)\s+(?:a|an|just\s+a)\s+{_BOT}\b{_ASKED_FOR}",
    # "am I talking to a bot?", "am I chatting with a real person"
    r"\b(?:am\s+i|are\s+we)\s+(?:talking|speaking|chatting)\s+(?:to|with)\s+(?:a|an)\s+"
    rf"(?:(?:real|actual|live)\s+)?(?:{_BOT}|human|person)\b{_ASKED_FOR}",
    # "not the machine", "instead of a bot", "not talking to a bot anymore"; not "not the
    # machine learning forecast"
    r"\b(?:not|instead\s+of|rather\s+than|no\s+more)\s+"
    r"(?:(?:talking|speaking|chatting)\s+(?:to|with)\s+)?(?:a|an|the|this|your)?\s*"
    rf"{_BOT}\b{_ASKED_FOR}",
    # "I want a human", "I'd like a real person", "need a person who actually works there";
    # not "I want a manager role", "we need an agent installed", "I need a supervisor
    # account"
    r"\b(?:(?:i|we)\s*(?:'d|would)?\s*(?:like|prefer|demand|request)|want|wanna|need)\s+"
    rf"(?:to\s+\w+\s+(?:to|with)\s+)?{_REAL}{_ASKED}\b{_ASKED_FOR}{_NOT_THEIRS}",
    r"\bperson\s+who\s+(?:actually\s+)?works\s+(?:there|here|at|for)\b",
    # "agent please", "real person now"; not "I installed the agent now"
    r"(?<!\bthe\s)(?<!\bour\s)(?<!\bmy\s)(?<!\byour\s)(?<!\btheir\s)"
    r"\b(?:human|real\s+person|live\s+(?:agent|person|chat)|agent)\s+(?:please|pls|plz|now|asap)\b",
]
_REQUEST = [re.compile(p, re.IGNORECASE) for p in _REQUEST_PATTERNS]

# A message that is nothing but a call for a person: "human", "operator!", "agent pls".
_ALONE = re.compile(
    r"^\W*(?:(?:a|an|the|real|actual|live|human|please|pls|plz|now|i\s+want|want|need|"
    r"speak\s+to|talk\s+to)\s+)*(?:human|person|agent|operator|representative|rep|manager|"
    r"supervisor|someone|somebody|customer\s+service|support)s?(?:\s+being)?"
    r"(?:[,!.]?\s+(?:please|pls|plz|now|needed|wanted|required|asap))*\W*$",
    re.IGNORECASE,
)
# People who belong to the customer, not to us: "my manager", "our support team".
_THEIR_PEOPLE = re.compile(
    r"\b(?:my|our|his|her|their|the\s+client'?s?|a\s+client'?s?)\s+(?:\w+\s+)?"
    r"(?:manager|boss|team(?:\s*lead)?|colleague|supervisor|support\s+team|agent|staff|"
    r"people|consultant|engineer|person)\b",
    re.IGNORECASE,
)
# Asking whether a person is needed is not asking for one: "do I have to talk to someone to
# close an account or can I do it in the app?", "should I contact support if ...". Read
# just before the request.
_WHETHER = re.compile(
    r"\b(?:(?:do|does|will|would)\s+(?:i|we|you)\s+(?:have|need)\s+to|(?:must|should)\s+"
    r"(?:i|we)|is\s+it\s+(?:necessary|required)\s+to)\s+$",
    re.IGNORECASE,
)


# Someone other than the customer wants the person, just before the request.
_SOMEONE_ELSE_WANTS = re.compile(
    r"\b(?:my|our|the|a)\s+(?:\w+\s+)?(?:client|customer|user|buyer|friend|wife|husband)s?"
    r"\s+(?:wants?|would\s+like|needs?|asked|(?:is|are|was|were)\s+asking|(?:has|have)\s+"
    r"asked)\s+(?:to\s+)?$",
    re.IGNORECASE,
)

# Chat shorthand read as the words it stands for: "connect me w/ a live agent".
_SHORTHAND = [(re.compile(r"\bw/\s*", re.IGNORECASE), "with "), (re.compile(r"\bu\b"), "you")]


def _expanded(text: str) -> str:
    for pattern, words in _SHORTHAND:
        text = pattern.sub(words, text)
    return text


def wants_human(text: str) -> bool:
    """True when the customer asks for a person, not when they only mention one."""
    text = _expanded(text)
    if _ALONE.match(text.strip()):
        return True
    for pattern in _REQUEST:
        for match in pattern.finditer(text):
            # "can my manager talk to ..." or "our support team wants to ..." are mentions,
            # "do I have to talk to someone ..." asks about a person, not for one, and in
            # "my client wants to talk to a person" someone else wants one.
            before = text[: match.start()]
            if (
                _THEIR_PEOPLE.search(match.group(0)) is None
                and _WHETHER.search(before) is None
                and _SOMEONE_ELSE_WANTS.search(before) is None
            ):
                return True
    return False


# Rejections of an answer ---------------------------------------------------------------

# Where "that's wrong" must start to be about the answer: not "a debit that is not correct".
_CLAUSE_START = r"(?:^|[,.!?;:]\s*|\b(?:no|nope|nah|but|sorry|hmm)\s+)"

_REJECTION = re.compile(
    r"\b(?:"
    r"(?:did\s*n[o']?t|does\s*n[o']?t|do\s*n[o']?t|wo\s*n[o']?t|is\s*n[o']?t|was\s*n[o']?t|"
    r"has\s*n[o']?t|have\s*n[o']?t|"
    r"ca\s*n[o']?t|not|never)\s+(?:\w+\s+)?(?:work|help|fix|solve|change|save|load|"
    r"connect|arrive|come|go\s+through|do\s+anything|make\s+a\s+difference)\w*"
    r"|still\s+(?:fail|failing|fails|broken|not|nothing|the\s+same|says|say|doesn|does|"
    r"won|can|get|getting|shows|showing|stuck|erroring|errors|no|same|happening|wrong|"
    r"aren|isn|keeps|bounces|declin)\w*"
    r"|same\s+(?:failure|error|problem|issue|thing|result|message|story)"
    r"|already\s+(?:tried|did|done|have|had|put|added|invited|checked|enabled|set|followed|"
    r"changed|reset|restarted|cleared|updated|looked)"
    r"|(?:did|done|tried|followed)\s+(?:all\s+(?:of\s+)?)?(?:that|this|it|those|these|"
    r"everything|"
    r"your\s+(?:steps|instructions|advice))"
    r"|(?:you|u)\s+already\s+(?:told|said|sent|showed|gave)|(?:told|said|sent)\s+(?:me\s+)?"
    r"(?:that|this)\s+(?:already|before)"
    r"|tried\s+(?:another|again|a\s+different|twice|both)"
    r"|no\s+(?:luck|joy|change|difference|dice)"
    r"|nothing\s+(?:changed|happens|happened|works|worked)"
    r"|(?:that|this|it)\s+(?:did|does|changed|fixed|solved)\s+nothing"
    r"|keeps\s+(?:going|failing|saying|happening|logging|giving|coming)"
    r"|(?:that|this|it)\s+(?:was\s*n[o']?t|is\s*n[o']?t)\s+(?:it|helpful|what)"
    # "that's not it", "that is not my question", "this was not helpful"
    rf"|{_CLAUSE_START}(?:that|this)(?:'s|\s+is|\s+was)\s+"
    r"not\s+(?:it|helpful|useful|right|correct|relevant|my\s+question|"
    r"the\s+(?:problem|issue|answer|question))"
    r"|(?:not|n't)\s+what\s+i(?:'m|\s+am|\s+was)?\s+(?:asked|asking|meant|need|wanted|"
    r"looking\s+for)"
    # "wrong answer", "that answer is wrong", "this doesn't answer my question"
    r"|wrong\s+answer|(?:that|this|your|the)\s+answer\s+(?:is|was)\s+(?:wrong|incorrect|"
    rf"irrelevant|useless|unhelpful)|{_CLAUSE_START}"
    r"(?:that|this)(?:'s|\s+is|\s+was)\s+(?:wrong|incorrect|irrelevant|unhelpful|useless|"
    r"pointless|no\s+(?:help|use|good))"
    r"|(?:does\s*n[o']?t|did\s*n[o']?t|do\s*n[o']?t|not|never)\s+answer(?:s|ed)?\s+"
    r"(?:my|the)\s+question|not\s+helpful|unhelpful"
    # "checked all of that", not "checked that the details are right"
    r"|checked\s+all\s+(?:of\s+)?(?:that|this|those|these)"
    # "the problem is still there"
    r"|(?:problem|issue|error|bug)\s+is\s+still\s+(?:there|here|happening|present)"
    r")",
    re.IGNORECASE,
)


# "did that and it worked", "tried it, works perfectly", "it's fixed now".
_SUCCESS = re.compile(
    r"\b(?:works?|worked|working)\s+(?:now|perfectly|fine|great|again|well|too|like\s+a)\b"
    r"|\b(?:it|that|this)(?:'s|\s+is|\s+has\s+been)?\s+(?:worked|works|working|fixed|solved|"
    r"sorted|resolved)\b"
    r"|\b(?:that|this)\s+did\s+(?:it|the\s+trick)\b|\ball\s+(?:good|sorted)\b",
    re.IGNORECASE,
)
# What a report of success must not also say for it to count as one.
_FAILED = re.compile(
    r"\b(?:did|does|do|is|was|has|have|can|wo|would)\s*n[o']?t\b|\b(?:not|never|nothing|still|"
    r"wrong|broken|useless|unhelpful|only|half|except|blank)\b|\b(?:fail|error|crash|broke)\w*"
    r"|\bsame\s+(?:error|problem|issue|result)|\bno\s+(?:luck|joy|change|difference)\b",
    re.IGNORECASE,
)
# "I haven't tried that yet": nothing was tried, so that part says nothing failed.
_NOT_YET = re.compile(
    r"\b(?:have\s*n[o']?t|not)\s+yet\s+(?:tried|done|followed)\b[^.!?,;]*"
    r"|\b(?:have\s*n[o']?t|not|never)\s+(?:\w+\s+)?(?:tried|done|followed)\b[^.!?,;]*?\byet\b",
    re.IGNORECASE,
)


def rejects_answer(text: str) -> bool:
    """True when the customer says what they were told did not work or did not help."""
    text = _NOT_YET.sub(" ", _expanded(text))
    if _REJECTION.search(text) is None:
        return False
    # "did that and it worked" reports success, unless it also says what failed.
    return _SUCCESS.search(text) is None or _FAILED.search(text) is not None


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
    # How software reports a problem, not how the customer feels about it: "the export
    # fails with an error", "the carrier rejected the label", "kill the old job". VADER
    # reads them as if about people ("kill" -3.7, "dead" -3.3), and a plain bug report
    # came out as angry as "this is ridiculous".
    "error": -0.9,
    "errors": -0.9,
    "fail": -1.2,
    "fails": -1.0,
    "failed": -1.2,
    "failure": -1.2,
    "rejected": -1.2,
    "reject": -1.0,
    "wrong": -1.2,
    "kill": -0.8,
    "dead": -1.0,
}
# Things that make frustration unmistakable, whatever VADER makes of the rest.
_STRONG = re.compile(
    r"\b(?:ridiculous|unacceptable|worst|complete\s+joke|beyond\s+a\s+joke|fed\s+up|"
    r"sick\s+(?:and\s+tired|of)|wasted\s+my|waste\s+of\s+(?:time|money)|useless|unusable|"
    r"garbage|rubbish|nightmare|disgrace|appalling|outrageous|incompetent|furious|livid|"
    r"switch(?:ing)?\s+to\s+(?:a\s+)?(?:competitor|another)|cancel(?:ling)?\s+(?:everything|"
    r"our\s+account)|never\s+again|had\s+enough|this\s+is\s+a\s+(?:mess|disaster|joke)|"
    r"whole\s+thing\s+is\s+a\s+mess|for\s+(?:two|three|several|\d+)\s+days\s+and\s+nothing|"
    r"what\s+a\s+(?:joke|mess|disaster)|"
    # Contempt: "horrible experience", "absolutely pathetic service".
    r"horrible|terrible|awful|pathetic|atrocious|abysmal|dreadful|disgraceful|shambles|hopeless|"
    r"(?:complete|total|absolute|utter)\s+(?:joke|disaster|mess|farce|shambles)|"
    r"hate\s+(?:this|you|it|your|the\s+(?:app|product|tool|service))|"
    r"can'?t\s+believe\s+how\s+(?:bad|terrible|slow|awful|poor)|"
    r"no\s*(?:body|one)\s+(?:cares|helps|answers|responds|replies|gets\s+back)|"
    r"(?:down|broken|waiting|stuck|offline)\s+for\s+(?:two|three|several|many|\d+)\s+"
    r"(?:days|weeks)|"
    # Anger said outright: "I'm really angry", "this is driving me crazy".
    r"angry|pissed(?:\s+off)?|infuriat\w+|fuming|seething|irate|"
    r"(?:really|so|very|extremely|incredibly|absolutely)\s+(?:annoyed|frustrated|upset|"
    r"disappointed)|losing\s+(?:my\s+)?patience|"
    r"driving\s+me\s+(?:crazy|mad|nuts|insane|up\s+the\s+wall)|at\s+my\s+wits'?\s+end|"
    r"(?:i'?ve|i\s+have|we'?ve|we\s+have)\s+had\s+it|"
    r"done\s+with\s+(?:this|you|it)(?=\s*(?:[,.!;]|$))|done\s+with\s+(?:you|your\s+\w+)|"
    # Time lost and asking again: "I've been waiting for days", "the third time I'm asking".
    r"wait(?:ing|ed)\s+(?:for\s+)?(?:days|weeks|ages|forever)|"
    r"wast(?:ed|ing)\s+(?:\w+\s+){0,4}(?:time|day|days|hours|morning|afternoon|week)|"
    r"(?:thinking\s+(?:of|about)|considering)\s+(?:leaving|cancell?ing|quitting)|"
    r"(?:second|third|fourth|fifth|\d+(?:st|nd|rd|th))\s+time\s+(?:that\s+)?(?:i'?m\s+|"
    r"i\s+am\s+|i'?ve\s+|i\s+have\s+|we'?re\s+|we\s+are\s+)?(?:asking|asked|writing|"
    r"contacting|reporting|explaining|telling)|"
    r"asked\s+(?:you\s+)?(?:this\s+)?(?:three|four|five|several|many|\d+)\s+times|"
    r"nothing\s+ever\s+works|never\s+(?:ever\s+)?works|why\s+does\s+nothing\s+(?:ever\s+)?work|"
    # Threats to leave: "I'm going to cancel if this isn't fixed today".
    r"(?:going\s+to|gonna|will|'ll|about\s+to|ready\s+to)\s+(?:cancel|leave|switch|quit)"
    r"\w*\b[^.?!]{0,40}\b(?:if|unless)|we'?re\s+(?:cancelling|canceling|leaving|switching))"
    r"\b|😡|🤬|😤|💩",
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


# VADER lets "not" and "very" reach the next three words, even across a comma: in "the link
# doesn't open, that's annoying" it turns "annoying" positive. Three empty words after each
# clause's punctuation keep them inside their clause.
_CLAUSE_END = re.compile(r"([,;:.!?]+)\s+")
_CLAUSE_GAP = r"\1 ‖ ‖ ‖ "


# "I'm not angry", "it's not awful at all": the cue denied in its own clause.
_DENIED = re.compile(
    r"\b(?:(?:i'?m|i\s+am|we'?re|we\s+are|you'?re|you\s+are|it'?s|it\s+is|that'?s|that\s+is|"
    r"this\s+is|it\s+was|that\s+was|this\s+was)\s+not|(?:it|that|this)\s+(?:is|was)n'?t|"
    r"(?:i|we)\s+(?:don'?t|do\s+not))\s+(?:(?:really|that|so|too|even|at\s+all)\s+)?$",
    re.I,
)
# "I hate to bother you" is politeness.
_POLITE = re.compile(r"\b(?:i\s+)?hate\s+to\s+(?:bother|trouble|disturb|chase)(?:\s+you)?\b", re.I)


def _strong_cue(text: str) -> bool:
    for match in _STRONG.finditer(text):
        clause = re.split(r"[,;:.!?]", text[: match.start()])[-1]
        if _DENIED.search(clause) is None:
            return True
    return False


def sentiment(text: str) -> Sentiment:
    text = _POLITE.sub("", text)
    score = _analyzer().polarity_scores(_CLAUSE_END.sub(_CLAUSE_GAP, text))["compound"]
    strong_cue = _strong_cue(text)
    shouting = sum(1 for w in re.findall(r"\b[A-Z]{4,}\b", text)) >= 1 and score < 0
    if strong_cue:
        score = min(score, -0.6)
    elif _HEDGE.search(text) and score < 0:
        # "a bit clunky" is a grumble, not anger: it stays negative but mild.
        score = max(score, -0.45)
    if shouting:
        score = max(-1.0, score - 0.2)
    return Sentiment(score=round(score, 3), strong=strong_cue)
