"""What every responder returns, whatever engine produced it."""

from dataclasses import dataclass, field
from typing import Literal

ReplyKind = Literal["answer", "clarify", "smalltalk"]


@dataclass(frozen=True)
class Candidate:
    """An article the message might be about, with the responder's probability for it."""

    article_id: int
    slug: str
    title: str
    probability: float
    escalate: bool = False
    team: str = ""


@dataclass(frozen=True)
class Query:
    """A customer message with what the responder may use besides its words."""

    text: str
    page_path: str = ""
    # The page's title and the host page's facts are for responders that write their own
    # words; the local one knows pages by path alone (an article's ``pages``).
    page_title: str = ""
    # What the host page said with Baton.setContext ("plan": "Scale", ...), in its order;
    # not verified, and never used by the rules.
    facts: tuple[tuple[str, str | int | float | bool], ...] = ()
    # The article the conversation was last about, for follow-ups such as "and for PDFs?".
    topic_slug: str = ""
    # The customer's previous message, read together with this one for such follow-ups.
    previous_text: str = ""
    # Whose support this is (the site's name), for responders that write their own words.
    company: str = ""


@dataclass(frozen=True)
class Reply:
    kind: ReplyKind
    text: str
    confidence: float
    # The article slug, or "smalltalk:<intent>", or "" when nothing matched.
    intent: str = ""
    sources: list[dict[str, str]] = field(default_factory=list)
    article_id: int | None = None
    # The best guesses, most likely first, for the escalation rules and for agents.
    candidates: tuple[Candidate, ...] = ()

    @property
    def top(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None
