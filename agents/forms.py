from django import forms
from django.utils.translation import gettext_lazy as _

from agents.models import Agent, Resolution
from escalation.models import Team


class ReplyForm(forms.Form):
    body = forms.CharField(
        label=_("Reply"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )


class NoteForm(forms.Form):
    body = forms.CharField(
        label=_("Internal note"), max_length=4000, widget=forms.Textarea(attrs={"rows": 2})
    )


class TransferForm(forms.Form):
    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.all())
    reason = forms.CharField(label=_("Reason (the next agent reads it first)"), max_length=300)


class AssignForm(forms.Form):
    agent = forms.ModelChoiceField(label=_("Agent"), queryset=Agent.objects.all())


class PresenceForm(forms.Form):
    presence = forms.ChoiceField(choices=Agent.Presence.choices)


class ResolveForm(forms.Form):
    kind = forms.ChoiceField(label=_("How did it end?"), choices=Resolution.Kind.choices)
    ai_could_have = forms.ChoiceField(
        label=_("Could the AI have handled this?"),
        choices=[("yes", _("Yes")), ("no", _("No"))],
    )
    save_answer = forms.BooleanField(required=False)
    article = forms.CharField(required=False)
    title = forms.CharField(required=False, max_length=200)
    question = forms.CharField(required=False, max_length=500)
    answer = forms.CharField(required=False, max_length=8000)

    def clean(self):
        data = super().clean()
        if data.get("save_answer"):
            if not data.get("answer", "").strip():
                self.add_error("answer", _("Write the answer to save."))
            if not data.get("article") and not data.get("title", "").strip():
                self.add_error("title", _("Give the new answer a title, or pick an article."))
        return data


class RatingForm(forms.Form):
    score = forms.IntegerField(min_value=1, max_value=5)
    comment = forms.CharField(required=False, max_length=2000)
