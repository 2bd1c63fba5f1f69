"""The optional LLM responder: any OpenAI-compatible chat-completions endpoint.

It writes the answer in its own words, grounded on the knowledge-base articles the local
responder finds most likely (and the page the customer is on), and streams it to the
widget as it is generated. What it returns has the same shape as the local responder's:

* sources are only articles it was given and actually cited; an answer that cites none,
  or says it cannot answer, is not used;
* confidence is the local responder's calibrated probability for the cited article, so
  the threshold means the same with either engine;
* small talk and unsure questions are the local responder's business and never reach the
  endpoint;
* timeouts, errors, rate limits and ungrounded answers fall back to the local answer (or
  to asking the customer to rephrase, which the rules turn into a handoff if it repeats):
  never silence, never an invented source. docs/ai.md has the set-up.
"""

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import requests
from django.conf import settings

from chat.responder.base import Candidate, Query, Reply
from chat.responder.local import LocalResponder, get_index

logger = logging.getLogger(__name__)

NO_ANSWER = "NO_ANSWER"
_CITATION = re.compile(r"\[([a-z0-9][a-z0-9_-]*)\]")
# Streamed text is passed on at most this often (seconds).
STREAM_EVERY = 0.15

SYSTEM_PROMPT = """You are the customer-support assistant of {company}.
Answer the customer's message using only the articles below. Be brief, friendly and
precise; use Markdown sparingly. After the sentences that rely on an article, cite it by
its id in square brackets, for example [{example}]. Cite only ids listed below.
If the articles do not answer the message, reply with exactly {no_answer} and nothing else.

The customer is on the page: {page}

Articles:
{articles}"""


class EndpointFailed(Exception):
    pass


# What a body that is not the chat-completions format raises while being read.
_UNREADABLE = (ValueError, KeyError, IndexError, TypeError)


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    model: str
    api_key: str
    timeout: float

    @classmethod
    def from_settings(cls) -> "Endpoint":
        return cls(
            base_url=settings.BATON_LLM_BASE_URL.rstrip("/"),
            model=settings.BATON_LLM_MODEL,
            api_key=settings.BATON_LLM_API_KEY,
            timeout=settings.BATON_LLM_TIMEOUT,
        )


def clean(text: str) -> str:
    """The answer as the customer reads it: citations become sources, not text."""
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", _CITATION.sub("", text)).strip()


def _lines(response: requests.Response):
    """The body's lines as they arrive, chunked or not (``iter_lines`` waits for 512 bytes,
    or for the end of a body that is not chunked)."""
    buffer = b""
    while piece := response.raw.read1(8192):
        buffer += piece
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line.rstrip(b"\r").decode()
    if buffer:
        yield buffer.decode()


class LlmResponder:
    # Answers are written by the endpoint, slowly: outside any database lock.
    writes = True

    def __init__(self, endpoint: Endpoint | None = None) -> None:
        self.endpoint = endpoint or Endpoint.from_settings()
        self.local = LocalResponder()

    def warm(self) -> None:
        self.local.warm()

    def find(self, query: Query, *, threshold: float | None = None) -> Reply:
        return self.local.answer(query, threshold=threshold)

    def answer(
        self,
        query: Query,
        *,
        threshold: float | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Reply:
        return self.write(query, self.local.answer(query, threshold=threshold), on_text=on_text)

    def write(
        self, query: Query, local: Reply, *, on_text: Callable[[str], None] | None = None
    ) -> Reply:
        """The local responder's answer, written by the LLM from the same articles."""
        if local.kind != "answer":
            return local
        index = get_index()
        grounding = [c for c in local.candidates[: settings.BATON_LLM_ARTICLES]]
        articles = {c.slug: index.articles[index.slug_index[c.slug]] for c in grounding}
        try:
            text = self._complete(query, articles, on_text)
        except EndpointFailed as failure:
            logger.warning("LLM endpoint failed, answering locally: %s", failure)
            return local
        cited = [slug for slug in dict.fromkeys(_CITATION.findall(text)) if slug in articles]
        if NO_ANSWER in text or not cited:
            # Ungrounded: the local answer (with its real source) stands.
            logger.info("LLM answer not grounded (cited %s); answering locally", cited)
            return local
        best = self._candidate(local.candidates, cited[0])
        return replace(
            local,
            text=clean(text),
            confidence=best.probability,
            intent=best.slug,
            article_id=best.article_id,
            sources=[{"slug": s, "title": articles[s].title} for s in cited],
        )

    @staticmethod
    def _candidate(candidates: tuple[Candidate, ...], slug: str) -> Candidate:
        return next(c for c in candidates if c.slug == slug)

    def _messages(self, query: Query, articles: dict) -> list[dict[str, str]]:
        listing = "\n\n".join(
            f"[{slug}] {article.title}\n{article.body}" for slug, article in articles.items()
        )
        system = SYSTEM_PROMPT.format(
            company=query.company or "the company",
            example=next(iter(articles)),
            no_answer=NO_ANSWER,
            page=query.page_path or "unknown",
            articles=listing,
        )
        messages = [{"role": "system", "content": system}]
        if query.previous_text:
            messages.append({"role": "user", "content": query.previous_text})
        messages.append({"role": "user", "content": query.text})
        return messages

    def _complete(self, query: Query, articles: dict, on_text) -> str:
        endpoint = self.endpoint
        body = {
            "model": endpoint.model,
            "messages": self._messages(query, articles),
            "temperature": 0.2,
            "stream": on_text is not None,
        }
        headers = {"Content-Type": "application/json"}
        if endpoint.api_key:
            headers["Authorization"] = f"Bearer {endpoint.api_key}"
        deadline = time.monotonic() + endpoint.timeout
        try:
            response = requests.post(
                f"{endpoint.base_url}/chat/completions",
                json=body,
                headers=headers,
                timeout=endpoint.timeout,
                stream=on_text is not None,
            )
        except requests.RequestException as error:
            raise EndpointFailed(str(error)) from error
        with response:
            if response.status_code == 429:
                raise EndpointFailed("rate limited")
            if response.status_code >= 400:
                raise EndpointFailed(f"HTTP {response.status_code}: {response.text[:200]}")
            try:
                if on_text is None:
                    return response.json()["choices"][0]["message"]["content"] or ""
                return self._stream(response, on_text, deadline)
            except (
                ValueError,
                KeyError,
                IndexError,
                TypeError,
                requests.RequestException,
            ) as error:
                raise EndpointFailed(f"unreadable answer: {error}") from error

    @staticmethod
    def _stream(response: requests.Response, on_text, deadline: float) -> str:
        """Server-sent events: ``data: {json}`` lines, ``data: [DONE]`` at the end."""
        text = ""
        shown_at = 0.0
        for line in _lines(response):
            if time.monotonic() > deadline:
                raise EndpointFailed("the answer took too long")
            if not line or not line.startswith("data:"):
                continue
            data = line.removeprefix("data:").strip()
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            if "error" in chunk:
                raise EndpointFailed(str(chunk["error"])[:200])
            delta = chunk["choices"][0].get("delta", {}).get("content") or ""
            text += delta
            now = time.monotonic()
            # Nothing is shown of a reply that may yet turn out to be "NO_ANSWER".
            undecided = NO_ANSWER.startswith(text.strip()) or NO_ANSWER in text
            if delta and now - shown_at >= STREAM_EVERY and not undecided:
                shown_at = now
                on_text(clean(text))
        return text
