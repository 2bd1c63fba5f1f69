"""Small talk: greetings, thanks, goodbyes. Answered politely, never an article.

The example phrases teach the classifier what small talk sounds like; they compete with
the knowledge-base articles, so "thanks, and how do I export?" still goes to an article.
"""

from django.utils.translation import gettext as _

EXAMPLES: dict[str, list[str]] = {
    "greeting": [
        "hi",
        "hello",
        "hey",
        "hey there",
        "hiya",
        "good afternoon",
        "good evening",
        "morning",
        "hello, anyone there?",
        "hi team",
        "greetings",
        "yo",
    ],
    "thanks": [
        "thanks",
        "thank you",
        "thank you so much",
        "thanks a lot",
        "many thanks",
        "cheers",
        "ta",
        "thx",
        "ty",
        "perfect, thanks",
        "that helped, thank you",
        "awesome thanks",
        "great, that answers it",
        "brilliant, appreciate it",
        "got it, thanks for the help",
        "that's what I needed",
        "makes sense now",
    ],
    "goodbye": [
        "bye",
        "goodbye",
        "see you",
        "have a nice day",
        "talk later",
        "that's all for now",
        "I'm done, bye",
        "ciao",
        "catch you later",
        "have a good one",
    ],
    "how_are_you": [
        "how are you",
        "how are you doing today",
        "how is it going",
        "are you doing well",
        "what's up",
        "how are things",
        "you ok?",
    ],
    "acknowledge": [
        "ok",
        "okay",
        "alright",
        "sure",
        "got it",
        "I see",
        "understood",
        "fine",
        "cool",
        "right",
        "noted",
        "will do",
        "sounds good",
        "nice one",
        "I'll try that",
        "let me check that",
        "found it",
        "that's clear",
        "that works",
        "ah ok",
        "oh I see",
    ],
}


# Questions no business's knowledge base answers. They are never classified; they only
# teach the confidence calibration what a confident-looking wrong match looks like.
OFF_TOPIC = [
    "what's the weather going to be like in Paris tomorrow",
    "tell me a joke",
    "who won the football match last night",
    "can you recommend a good restaurant near me",
    "what is the capital of Australia",
    "write a poem about cats",
    "what is 17 times 23",
    "do you like pizza",
    "what's your favourite colour",
    "how tall is mount everest",
    "translate good night into Spanish",
    "can you help me with my chemistry homework",
    "what time is it in Tokyo right now",
    "where can I find cheap flights to Rome",
    "recommend me a good film for tonight",
    "how do I bake sourdough bread",
    "is it going to rain this weekend",
    "how do I change the brake pads on my bike",
    "what's the meaning of life",
    "my dog keeps barking at night, any tips",
    "which phone should I buy this year",
    "who painted the Mona Lisa",
    "how many calories are in a banana",
    "sing me a song",
    "what's the best way to learn the guitar",
    "can you book me a taxi",
    "what's the score in the cricket",
    "how do I get rid of hiccups",
    "are aliens real",
    "what should I cook for dinner",
]


def reply_text(intent: str) -> str:
    replies = {
        "greeting": _("Hello! What can I help you with?"),
        "thanks": _("You're welcome! Is there anything else I can help with?"),
        "goodbye": _("Goodbye, and thanks for getting in touch!"),
        "how_are_you": _("I'm doing well, thanks for asking. What can I help you with?"),
        "acknowledge": _("Alright. Let me know if there's anything else."),
    }
    return replies.get(intent, replies["acknowledge"])
