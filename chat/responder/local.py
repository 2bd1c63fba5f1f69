"""The default responder: knowledge-base classification on the CPU, no network.

For a message it scores every article (and every small-talk intent) from

* meaning: cosine similarity of sentence embeddings (all-MiniLM-L6-v2, run by ONNX
  Runtime) with the article's example questions and title (best match and mean of the
  two best) and with the sentences of its answer;
* a linear classifier trained on the example questions' embeddings, which pays off when
  articles have many examples each;
* words: TF-IDF similarity with the article's whole text and with its example questions,
  and how much of the message's telling words the article contains, for names and
  numbers that embeddings blur ("401", "SAML");
* context: a bonus when the customer is on one of the article's pages, and when the
  conversation was just about the article (follow-ups such as "and as a PDF?").

The features' weights, and with them a confidence for the best article, come from a
conditional-logit model fitted, each time the knowledge base changes, on the knowledge
base's own example questions (held out five folds at a time) and on off-topic questions. So a
confidence of 0.9 means: nine in ten such answers were right on held-out questions.
"""

import dataclasses
import functools
import hashlib
import itertools
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import snowballstemmer
from django.conf import settings
from django.utils.translation import gettext as _
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from chat.responder import smalltalk
from chat.responder.base import Candidate, Query, Reply
from chat.responder.encoder import Encoder, get_encoder

logger = logging.getLogger(__name__)

SMALLTALK_PREFIX = "smalltalk:"
# Parts of a message longer than this are never small talk.
SMALL_TALK_WORDS = 6
# In a message longer than this, a greeting or a thank-you hardly moves its meaning, and
# reading it again without them would only cost time.
SMALL_TALK_MESSAGE_WORDS = 24
# Where a message splits into parts: sentence ends and commas.
_PARTS = re.compile(r"[.!?,;:\n]+")
_WORD = re.compile(r"\w")
_POINTS_BACK = re.compile(
    r"^\W*(?:and|also|so|but|plus|then|what\s+about|how\s+about)\b|"
    r"\b(?:it|its|this|that|these|those|they|them|their|she|he|her|him|his|one)\b",
    re.IGNORECASE,
)
FOLDS = 5


# How much the context says, as log-odds: the share of questions asked on a page that are
# about one of the articles listed for that page, and the share of messages that follow
# up on the article the conversation was just about. Assumptions, not fitted, because a
# knowledge base's example questions carry no page and no history to fit them on.
PAGE_SHARE = 0.6
TOPIC_SHARE = 0.35


FEATURES = ("best", "second", "body", "words", "example_words", "coverage", "classifier")
# Inverse regularisation of the classifier trained on the example questions' embeddings.
CLASSIFIER_C = 16.0


@dataclass(frozen=True)
class Weights:
    """Learned per index: how much each kind of similarity counts, and the bar for none."""

    best: float = 14.0
    second: float = 8.0
    body: float = 6.0
    words: float = 3.0
    example_words: float = 3.0
    coverage: float = 3.0
    classifier: float = 1.0
    none: float = 12.0

    def vector(self) -> np.ndarray:
        return np.array([*(getattr(self, name) for name in FEATURES), self.none])


@dataclass(frozen=True)
class ArticleData:
    id: int
    slug: str
    title: str
    body: str
    questions: tuple[str, ...]
    pages: tuple[str, ...] = ()
    escalate: bool = False
    team: str = ""


@dataclass
class _Classes:
    """Everything that can be scored: articles first, then small-talk intents."""

    names: list[str]
    articles: list[ArticleData]
    # Example texts and the class each belongs to.
    examples: list[str]
    example_class: np.ndarray
    # Answer sentences and the article each belongs to.
    body_texts: list[str]
    body_class: np.ndarray
    documents: list[str]


_local = threading.local()
_TOKEN = re.compile(r"[a-z0-9]+")


def _stemmer():
    # Snowball stemmers keep state while they work: one per thread.
    if not hasattr(_local, "stemmer"):
        _local.stemmer = snowballstemmer.stemmer("english")
    return _local.stemmer


@functools.lru_cache(maxsize=20_000)
def _stemmed(text: str) -> tuple[str, ...]:
    words = [w for w in _TOKEN.findall(text.lower()) if w not in ENGLISH_STOP_WORDS]
    return tuple(_stemmer().stemWords(words))


def terms(text: str) -> list[str]:
    """Stemmed content words: "invoices" and "invoice" are one term, "the" is none."""
    return list(_stemmed(text))


def terms_and_pairs(text: str) -> list[str]:
    words = terms(text)
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


def _sentences(text: str) -> list[str]:
    plain = re.sub(r"[*_`#>]", "", text)
    parts = re.split(r"(?<=[.!?;:])\s+|\n+", plain)
    return [part.strip() for part in parts if len(part.strip()) > 12]


def _page_matches(article_pages: tuple[str, ...], path: str) -> bool:
    if not path:
        return False
    path = path.rstrip("/") or "/"
    for page in article_pages:
        page = page.rstrip("/") or "/"
        if path == page or (page != "/" and path.startswith(page + "/")):
            return True
    return False


def _segment_stats(sims: np.ndarray, labels: np.ndarray, n_classes: int) -> tuple:
    """Per class: the best similarity and the mean of the two best (queries x classes).

    ``labels`` are sorted (examples are stored class by class), so each class is one run
    of columns and numpy can reduce every run at once.
    """
    n_queries = sims.shape[0]
    best = np.full((n_queries, n_classes), -1.0, dtype=np.float32)
    second = np.full((n_queries, n_classes), -1.0, dtype=np.float32)
    if not len(labels):
        return best, second
    starts = np.concatenate([[0], np.flatnonzero(np.diff(labels)) + 1])
    classes = labels[starts]
    top = np.maximum.reduceat(sims, starts, axis=1)
    # The runner-up: the best again once each run's best is taken out.
    top_per_column = np.repeat(top, np.diff(np.append(starts, len(labels))), axis=1)
    rest = np.where(sims >= top_per_column, -np.inf, sims)
    runner_up = np.maximum.reduceat(rest, starts, axis=1)
    runner_up = np.where(np.isfinite(runner_up), runner_up, top)
    best[:, classes] = top
    second[:, classes] = (top + runner_up) / 2
    return best, second


def product_name_pattern(names: list[str]) -> re.Pattern[str] | None:
    words = sorted({n.strip() for n in names if n.strip()}, key=len, reverse=True)
    if not words:
        return None
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)


@functools.cache
def _one_blas_thread() -> None:
    """Run BLAS (numpy, scipy, scikit-learn) on one thread in this process.

    Like the encoder's, this arithmetic is on small matrices; extra BLAS threads only
    fight the worker's other threads and processes for the cores. With two of them, two
    workers indexing the 28-article sample knowledge base at once on two cores took 31 s
    each; with one, 3.4 s."""
    threadpool_limits(limits=1, user_api="blas")


class Index:
    """A snapshot of the knowledge base, ready to score messages."""

    def __init__(
        self, articles: list[ArticleData], revision: object, product_names: list[str] = ()
    ) -> None:
        started = time.perf_counter()
        _one_blas_thread()
        self.revision = revision
        # The product's own name is in many questions and says nothing about the topic.
        self.product_names = product_name_pattern(list(product_names))
        self.articles = articles
        self.classes = self._classes([self._neutral_article(a) for a in articles])
        self.n_articles = len(articles)
        self.n_classes = len(self.classes.names)
        encoder = self.encoder = get_encoder()
        self.example_vectors = _encode_cached(encoder, self.classes.examples)
        self.body_vectors = _encode_cached(encoder, self.classes.body_texts)
        corpus = self.classes.documents + self.classes.examples
        self.vectorizer = TfidfVectorizer(analyzer=terms_and_pairs, sublinear_tf=True)
        self.vectorizer.fit(corpus)
        document_matrix = self.vectorizer.transform(self.classes.documents)
        self.example_matrix = self.vectorizer.transform(self.classes.examples)
        # Transposed once here, not at every message.
        self.document_columns = document_matrix.T.tocsr()
        self.example_columns = self.example_matrix.T.tocsr()
        # Which terms each class's text contains, and how telling each term is.
        self.presence = CountVectorizer(analyzer=terms, binary=True).fit(corpus)
        unigram_idf = TfidfVectorizer(analyzer=terms).fit(corpus)
        self.term_weight = unigram_idf.idf_[
            [unigram_idf.vocabulary_[t] for t in self.presence.get_feature_names_out()]
        ]
        self.unknown_term_weight = float(unigram_idf.idf_.max())
        self.class_term_columns = self.presence.transform(self.classes.documents).T.tocsr()
        self.classifier = self._train_classifier(self.example_vectors, self.classes.example_class)
        self.page_lists = [a.pages for a in articles]
        self.slug_index = {a.slug: i for i, a in enumerate(articles)}
        self.weights = self._fit(encoder)
        # The BATON_SENTENCE_MODEL the index was built with.
        self.sentence_model = encoder.name
        self.build_seconds = time.perf_counter() - started

    def neutral(self, text: str) -> str:
        if self.product_names is None:
            return text
        return self.product_names.sub("the product", text)

    def _neutral_article(self, article: ArticleData) -> ArticleData:
        return dataclasses.replace(
            article,
            title=self.neutral(article.title),
            body=self.neutral(article.body),
            questions=tuple(self.neutral(q) for q in article.questions),
        )

    @staticmethod
    def _classes(articles: list[ArticleData]) -> _Classes:
        names = [a.slug for a in articles] + [
            SMALLTALK_PREFIX + intent for intent in smalltalk.EXAMPLES
        ]
        examples: list[str] = []
        labels: list[int] = []
        body_texts: list[str] = []
        body_labels: list[int] = []
        documents: list[str] = []
        for index, article in enumerate(articles):
            for text in (article.title, *article.questions):
                examples.append(text)
                labels.append(index)
            for sentence in _sentences(article.body):
                body_texts.append(sentence)
                body_labels.append(index)
            documents.append(" ".join([article.title, *article.questions, article.body]))
        for offset, phrases in enumerate(smalltalk.EXAMPLES.values()):
            for text in phrases:
                examples.append(text)
                labels.append(len(articles) + offset)
            documents.append(" ".join(phrases))
        return _Classes(
            names=names,
            articles=articles,
            examples=examples,
            example_class=np.array(labels, dtype=np.int64),
            body_texts=body_texts,
            body_class=np.array(body_labels, dtype=np.int64),
            documents=documents,
        )

    # Scoring -------------------------------------------------------------------------

    def features(
        self,
        vectors: np.ndarray,
        texts: list[str],
        *,
        example_mask: np.ndarray | None = None,
        documents: list[str] | None = None,
        classifier: LogisticRegression | None = None,
    ) -> np.ndarray:
        """Similarities (queries x classes x FEATURES). The masks serve cross-validation."""
        example_vectors = self.example_vectors
        example_class = self.classes.example_class
        example_columns = self.example_columns
        if example_mask is not None:
            example_vectors = example_vectors[example_mask]
            example_class = example_class[example_mask]
            example_columns = self.example_matrix[example_mask].T.tocsr()
        n = self.n_classes
        out = np.zeros((len(texts), n, len(FEATURES)), dtype=np.float32)
        best, second = _segment_stats(vectors @ example_vectors.T, example_class, n)
        out[:, :, 0] = best
        out[:, :, 1] = second
        if len(self.body_vectors):
            body_best, _unused = _segment_stats(
                vectors @ self.body_vectors.T, self.classes.body_class, n
            )
            out[:, : self.n_articles, 2] = np.maximum(body_best[:, : self.n_articles], 0)
        query_matrix = self._query_tfidf(texts)
        if documents is None:
            document_columns, class_term_columns = self.document_columns, self.class_term_columns
        else:
            document_columns = self.vectorizer.transform(documents).T.tocsr()
            class_term_columns = self.presence.transform(documents).T.tocsr()
        out[:, :, 3] = (query_matrix @ document_columns).toarray()
        example_words, _unused = _segment_stats(
            (query_matrix @ example_columns).toarray(), example_class, n
        )
        out[:, :, 4] = np.maximum(example_words, 0)
        out[:, :, 5] = self._coverage(texts, class_term_columns)
        out[:, :, 6] = self._classifier_scores(
            vectors, self.classifier if example_mask is None else classifier
        )
        return out

    @staticmethod
    def _train_classifier(vectors: np.ndarray, labels: np.ndarray) -> LogisticRegression | None:
        """A linear classifier over the example questions' embeddings: with many examples per
        article it separates them better than the nearest example does."""
        if len(set(labels.tolist())) < 2:
            return None
        return LogisticRegression(C=CLASSIFIER_C, max_iter=300).fit(vectors, labels)

    def _classifier_scores(self, vectors: np.ndarray, classifier) -> np.ndarray:
        scores = np.zeros((len(vectors), self.n_classes), dtype=np.float32)
        if classifier is not None and len(vectors):
            scores[:, classifier.classes_] = np.log(classifier.predict_proba(vectors) + 1e-4)
        return scores

    def _coverage(self, texts: list[str], class_term_columns) -> np.ndarray:
        """The share of the message's telling words that the class's text contains.

        Words the knowledge base has never seen weigh like its rarest word: "dark mode"
        in "does it have a dark mode?" is exactly what no article covers.
        """
        vocabulary = self.presence.vocabulary_
        rows, columns, values, totals = [], [], [], []
        for row, text in enumerate(texts):
            total = 0.0
            for term in set(terms(text)):
                column = vocabulary.get(term)
                if column is None:
                    total += self.unknown_term_weight
                else:
                    rows.append(row)
                    columns.append(column)
                    values.append(self.term_weight[column])
                    total += self.term_weight[column]
            totals.append(total)
        weighted = csr_matrix((values, (rows, columns)), shape=(len(texts), len(vocabulary)))
        covered = (weighted @ class_term_columns).toarray()
        return covered / np.maximum(np.array(totals), 1e-9)[:, None]

    def _query_tfidf(self, texts: list[str]) -> csr_matrix:
        """What TfidfVectorizer.transform computes (sublinear counts, idf, unit length),
        without its per-call overhead: a message is scored in well under a millisecond."""
        vocabulary = self.vectorizer.vocabulary_
        idf = self.vectorizer.idf_
        rows, columns, values = [], [], []
        for row, text in enumerate(texts):
            counts: dict[int, int] = {}
            for term in terms_and_pairs(text):
                column = vocabulary.get(term)
                if column is not None:
                    counts[column] = counts.get(column, 0) + 1
            if not counts:
                continue
            weights = {c: (1 + np.log(n)) * idf[c] for c, n in counts.items()}
            norm = np.sqrt(sum(v * v for v in weights.values()))
            for column, value in weights.items():
                rows.append(row)
                columns.append(column)
                values.append(value / norm)
        return csr_matrix((values, (rows, columns)), shape=(len(texts), len(vocabulary)))

    def context_prior(self, page_path: str, topic_slug: str) -> np.ndarray:
        """Log-odds added to each article for the page the customer is on and the topic."""
        prior = np.zeros(self.n_classes, dtype=np.float32)
        n = self.n_articles
        if n < 2:
            return prior
        listed = [i for i, pages in enumerate(self.page_lists) if _page_matches(pages, page_path)]
        if 0 < len(listed) < n:
            prior[:n] += np.log((1 - PAGE_SHARE) / (n - len(listed)) * n)
            prior[listed] = np.log(PAGE_SHARE / len(listed) * n)
        topic = self.slug_index.get(topic_slug)
        if topic is not None:
            prior[:n] += np.log((1 - TOPIC_SHARE) / (n - 1) * n)
            prior[topic] += np.log(TOPIC_SHARE * n) - np.log((1 - TOPIC_SHARE) / (n - 1) * n)
        return prior

    @staticmethod
    def _logits(features: np.ndarray, priors: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Scores for every class plus a last column: none of them."""
        scores = features @ weights[:-1] + priors
        none = np.full((scores.shape[0], 1), weights[-1], dtype=scores.dtype)
        return np.concatenate([scores, none], axis=1)

    @staticmethod
    def _softmax(logits: np.ndarray) -> np.ndarray:
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def probabilities(
        self, vectors: np.ndarray, texts: list[str], page_paths: list[str], topic_slugs: list[str]
    ) -> np.ndarray:
        """P(class) for each query; the last column is P(none of the articles)."""
        features = self.features(vectors, texts)
        priors = np.stack(
            [self.context_prior(p, t) for p, t in zip(page_paths, topic_slugs, strict=True)]
        )
        return self._softmax(self._logits(features, priors, self.weights.vector()))

    def _fit(self, encoder) -> Weights:
        """Learn the weights on held-out example questions and off-topic questions."""
        from scipy.optimize import minimize

        features, targets = self._held_out(encoder)
        priors = np.zeros(features.shape[:2], dtype=np.float32)
        start = Weights().vector()

        def loss(weights: np.ndarray) -> float:
            logits = self._logits(features, priors, weights)
            logits -= logits.max(axis=1, keepdims=True)
            log_probability = logits[np.arange(len(targets)), targets] - np.log(
                np.exp(logits).sum(axis=1)
            )
            # A light pull towards the defaults keeps tiny knowledge bases sensible.
            return float(-log_probability.mean() + 1e-4 * ((weights - start) ** 2).sum())

        bounds = [(0, 200)] * len(FEATURES) + [(-50, 200)]
        result = minimize(loss, start, method="L-BFGS-B", bounds=bounds)
        return Weights(*(float(v) for v in result.x))

    def _held_out(self, encoder) -> tuple[np.ndarray, np.ndarray]:
        """Features of every example question scored by an index that lacks it (5 folds)."""
        rng = np.random.default_rng(7)
        classes = self.classes
        # Each article keeps its title in every fold, so no class is ever empty.
        first_of_class = np.zeros(len(classes.examples), dtype=bool)
        seen: set[int] = set()
        for i, cls in enumerate(classes.example_class):
            if int(cls) not in seen:
                first_of_class[i] = True
                seen.add(int(cls))
        pool = np.flatnonzero(~first_of_class)
        features: list[np.ndarray] = []
        targets: list[np.ndarray] = []
        # Large knowledge bases need fewer rounds to learn a handful of weights.
        folds = FOLDS if len(pool) <= 2000 else 3
        if len(pool) >= folds:
            for fold in np.array_split(rng.permutation(pool), folds):
                mask = np.ones(len(classes.examples), dtype=bool)
                mask[fold] = False
                documents = [
                    " ".join(
                        [
                            *(
                                classes.examples[i]
                                for i in np.flatnonzero((classes.example_class == cls) & mask)
                            ),
                            classes.articles[cls].body if cls < self.n_articles else "",
                        ]
                    )
                    for cls in range(self.n_classes)
                ]
                features.append(
                    self.features(
                        self.example_vectors[fold],
                        [classes.examples[i] for i in fold],
                        example_mask=mask,
                        documents=documents,
                        classifier=self._train_classifier(
                            self.example_vectors[mask], classes.example_class[mask]
                        ),
                    )
                )
                targets.append(classes.example_class[fold])
        off_topic = smalltalk.OFF_TOPIC
        features.append(self.features(_encode_cached(encoder, off_topic), off_topic))
        targets.append(np.full(len(off_topic), self.n_classes))
        return np.concatenate(features), np.concatenate(targets)

    # Answers -------------------------------------------------------------------------

    def answer(self, query: Query, *, threshold: float) -> Reply:
        query = dataclasses.replace(query, text=self.neutral(query.text))
        probabilities = self._probabilities_for(query.text, query)
        best = int(np.argmax(probabilities[: self.n_classes]))
        if probabilities[best] < threshold or best >= self.n_articles:
            # "ok. and how do I export?" or "found it, thanks!": small talk wrapped around
            # a question, or small talk alone. Look at the parts separately.
            probabilities = self._without_small_talk(query, probabilities, threshold)
        best = int(np.argmax(probabilities[: self.n_classes]))
        if probabilities[best] < threshold:
            probabilities = self._as_follow_up(query, probabilities, threshold)
        return self._reply(probabilities, threshold)

    def _as_follow_up(
        self, query: Query, probabilities: np.ndarray, threshold: float
    ) -> np.ndarray:
        """Read a message that points back together with the one before.

        "she's in New York, whose 8am is it?" means little alone and much after "can my
        manager get this every Monday at 8?". It counts only if that leads back to the
        article the conversation is about.
        """
        topic = self.slug_index.get(query.topic_slug)
        if topic is None or not query.previous_text or not _POINTS_BACK.search(query.text):
            return probabilities
        if probabilities[-1] < 0.5:
            # Alone it already reads as something; only a message that reads as nothing
            # at all borrows its meaning from the one before.
            return probabilities
        together = f"{self.neutral(query.previous_text)} {query.text}"
        combined = self._probabilities_for(together, query)
        if int(np.argmax(combined[: self.n_classes])) == topic and combined[topic] >= threshold:
            return combined
        return probabilities

    def _probabilities_for(self, text: str, query: Query) -> np.ndarray:
        vector = _encode_cached(self.encoder, [text])
        return self.probabilities(vector, [text], [query.page_path], [query.topic_slug])[0]

    def _without_small_talk(
        self, query: Query, probabilities: np.ndarray, threshold: float
    ) -> np.ndarray:
        if len(query.text.split()) > SMALL_TALK_MESSAGE_WORDS:
            return probabilities
        parts = [p.strip() for p in _PARTS.split(query.text) if _WORD.search(p)]
        # Small talk is short ("ok", "thanks a lot"): only short parts are worth a look.
        short = [i for i, part in enumerate(parts) if len(part.split()) <= SMALL_TALK_WORDS]
        if len(parts) < 2 or not short:
            return probabilities
        texts = [parts[i] for i in short]
        part_probabilities = self.probabilities(
            _encode_cached(self.encoder, texts),
            texts,
            [query.page_path] * len(texts),
            [query.topic_slug] * len(texts),
        )
        chatter = [
            i
            for i, row in zip(short, part_probabilities, strict=True)
            if int(np.argmax(row[: self.n_classes])) >= self.n_articles
            and row[: self.n_classes].max() >= threshold
        ]
        if not chatter:
            return probabilities
        if len(chatter) == len(parts):
            # All small talk: answer the last part ("great, thank you!" is thanks).
            return part_probabilities[short.index(chatter[-1])]
        rest = " ".join(part for i, part in enumerate(parts) if i not in chatter)
        return self._probabilities_for(rest, query)

    def _reply(self, probabilities: np.ndarray, threshold: float) -> Reply:
        ranking = np.argsort(-probabilities[: self.n_classes])
        candidates = tuple(
            self._candidate(int(i), float(probabilities[i])) for i in ranking if i < self.n_articles
        )[:5]
        best = int(ranking[0])
        confidence = float(probabilities[best])
        name = self.classes.names[best]
        if confidence < threshold:
            return Reply(
                kind="clarify",
                text=_(
                    "I'm not sure I understood that. Could you rephrase it or tell me a "
                    "little more?"
                ),
                confidence=confidence,
                intent="",
                candidates=candidates,
            )
        if name.startswith(SMALLTALK_PREFIX):
            return Reply(
                kind="smalltalk",
                text=smalltalk.reply_text(name.removeprefix(SMALLTALK_PREFIX)),
                confidence=confidence,
                intent=name,
                candidates=candidates,
            )
        article = self.articles[best]
        return Reply(
            kind="answer",
            text=article.body,
            confidence=confidence,
            intent=article.slug,
            sources=[{"slug": article.slug, "title": article.title}],
            article_id=article.id,
            candidates=candidates,
        )

    def _candidate(self, index: int, probability: float) -> Candidate:
        article = self.articles[index]
        return Candidate(
            article_id=article.id,
            slug=article.slug,
            title=article.title,
            probability=probability,
            escalate=article.escalate,
            team=article.team,
        )


# Embedding cache: an edit in admin re-encodes only the texts that changed.
_vectors: dict[str, np.ndarray] = {}
_VECTOR_CACHE_LIMIT = 200_000


def _encode_cached(encoder: Encoder, texts: list[str]) -> np.ndarray:
    if not encoder.worth_caching:
        return encoder.encode(texts)
    keys = [hashlib.blake2b(t.encode(), digest_size=16).hexdigest() for t in texts]
    missing = list(dict.fromkeys(k for k in keys if k not in _vectors))
    if missing:
        lookup = dict(zip(keys, texts, strict=True))
        vectors = encoder.encode([lookup[k] for k in missing])
        if len(_vectors) + len(missing) > _VECTOR_CACHE_LIMIT:
            _vectors.clear()
        _vectors.update(zip(missing, vectors, strict=True))
    if not texts:
        return np.zeros((0, encoder.dimensions), dtype=np.float32)
    return np.stack([_vectors[k] for k in keys])


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length vectors from the configured encoder (the sentence model's are cached)."""
    return _encode_cached(get_encoder(), texts)


@dataclass
class _State:
    index: Index | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    # When this process last asked the database for the revision.
    checked_at: float = 0.0


_state = _State()


Revision = tuple[int, str]


def current_revision() -> Revision:
    """The knowledge base's revision: its number and when it changed (a wiped and
    re-imported database can reach the same number again, never the same moment)."""
    from chat.models import KnowledgeBaseRevision

    row = KnowledgeBaseRevision.objects.filter(pk=1).values_list("number", "changed_at").first()
    return (row[0], row[1].isoformat()) if row else (0, "")


def load_articles() -> tuple[Revision, list[ArticleData], list[str]]:
    from chat.models import Article, Site

    revision = current_revision()
    articles = [
        ArticleData(
            id=article.pk,
            slug=article.slug,
            title=article.title,
            body=article.body,
            questions=tuple(q.text for q in article.questions.all()),
            pages=tuple(article.pages or ()),
            escalate=article.escalate,
            team=article.team.slug if article.team else "",
        )
        for article in Article.objects.select_related("team").prefetch_related("questions")
    ]
    names = [name for site in Site.objects.all() for name in site.names]
    return revision, articles, names


# How long a process trusts its index without asking the database whether the knowledge
# base changed: a change made elsewhere reaches every process within this time.
REVISION_CHECK_SECONDS = 1.0


def revision_changed() -> None:
    """This process changed the knowledge base: check the revision on the next message."""
    _state.checked_at = 0.0


def get_index() -> Index:
    """The index for the knowledge base as it is now; rebuilt when the revision moved."""
    index = _state.index
    now = time.monotonic()
    if index is not None and now - _state.checked_at < REVISION_CHECK_SECONDS:
        return index
    revision = current_revision()
    _state.checked_at = now
    model = settings.BATON_SENTENCE_MODEL
    if index is not None and index.revision == revision and index.sentence_model == model:
        return index
    with _state.lock:
        index = _state.index
        if index is None or index.revision != revision or index.sentence_model != model:
            revision, articles, names = load_articles()
            index = Index(articles, revision, names)
            _state.index = index
            logger.info(
                "knowledge base index rebuilt: revision %s, %s articles, %.2fs",
                revision,
                len(articles),
                index.build_seconds,
            )
    return index


class LocalResponder:
    # It finds the answer; it does not write one of its own (see LlmResponder.write).
    writes = False

    def warm(self) -> None:
        """Make sure the index for the current knowledge base is built."""
        get_index()

    def find(self, query: Query, *, threshold: float | None = None) -> Reply:
        """The article (or small talk) this message is about, with its confidence."""
        return self.answer(query, threshold=threshold)

    def answer(
        self,
        query: Query,
        *,
        threshold: float | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Reply:
        """``on_text`` would receive an answer as it is written; this engine has it at once."""
        if threshold is None:
            threshold = settings.BATON_CONFIDENCE_THRESHOLD
        return get_index().answer(query, threshold=threshold)
