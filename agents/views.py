"""The agent console: server-rendered pages, htmx for actions, a websocket for live updates.

Every view finds conversations through ``selectors.conversations_for(request.user)``, so
an agent reaches only their teams' conversations whatever id they type.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from agents import forms, selectors, services
from agents.models import Agent
from chat.models import Conversation


def agent_required(view):
    """Signed in, with an agent profile (superusers get one on first visit)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        agent = selectors.agent_for(request.user)
        if agent is None and request.user.is_superuser:
            agent = Agent.objects.create(user=request.user, is_supervisor=True)
        if agent is None:
            return render(request, "agents/not_an_agent.html", status=403)
        request.agent = agent
        return view(request, *args, **kwargs)

    return wrapper


def _conversation(request: HttpRequest, conversation_id: int) -> Conversation:
    return get_object_or_404(selectors.conversations_for(request.user), pk=conversation_id)


@agent_required
@require_GET
def console(request: HttpRequest) -> HttpResponse:
    teams = list(selectors.teams_for(request.user))
    chosen = request.GET.get("team")
    team = next((t for t in teams if t.slug == chosen), None)
    context = {
        "teams": teams,
        "team": team,
        "queue": selectors.queue_for(request.user, team=team),
        "mine": selectors.mine(request.agent),
        "agent": request.agent,
        "presence_form": forms.PresenceForm(initial={"presence": request.agent.presence}),
    }
    if request.htmx:
        return render(request, "agents/console.html#queues", context)
    return render(request, "agents/console.html", context)


@agent_required
@require_POST
def presence(request: HttpRequest) -> HttpResponse:
    form = forms.PresenceForm(request.POST)
    if form.is_valid():
        services.presence_set(agent=request.agent, presence=form.cleaned_data["presence"])
    if request.htmx:
        return render(request, "agents/console.html#presence", {"agent": request.agent})
    return redirect("agents:console")


PARTS = {"brief", "transcript", "customer", "actions"}


@agent_required
@require_GET
def conversation(request: HttpRequest, conversation_id: int) -> HttpResponse:
    found = _conversation(request, conversation_id)
    context = selectors.conversation_context(found, request.user)
    part = request.GET.get("part")
    if request.htmx and part in PARTS:
        return render(request, f"agents/conversation.html#{part}", context)
    return render(request, "agents/conversation.html", context)


def _act(request: HttpRequest, conversation_id: int, action) -> HttpResponse:
    """Run an action and answer with the refreshed actions panel (and any refusal)."""
    found = _conversation(request, conversation_id)
    error = ""
    try:
        action(found)
    except services.ActionRefused as refused:
        error = str(refused)
    found.refresh_from_db()
    context = {**selectors.conversation_context(found, request.user), "error": error}
    if request.htmx:
        response = render(request, "agents/conversation.html#actions", context)
        # The other panels redraw themselves when they hear this.
        response["HX-Trigger"] = "conversation-changed"
        return response
    return redirect("agents:conversation", conversation_id=found.pk)


def _form_error(form) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


@agent_required
@require_POST
def claim(request: HttpRequest, conversation_id: int) -> HttpResponse:
    return _act(
        request,
        conversation_id,
        lambda c: services.conversation_claim(conversation=c, agent=request.agent),
    )


@agent_required
@require_POST
def reply(request: HttpRequest, conversation_id: int) -> HttpResponse:
    form = forms.ReplyForm(request.POST)

    def act(found: Conversation) -> None:
        if not form.is_valid():
            raise services.ActionRefused(_form_error(form))
        services.agent_message_post(
            conversation=found, agent=request.agent, body=form.cleaned_data["body"]
        )

    return _act(request, conversation_id, act)


@agent_required
@require_POST
def note(request: HttpRequest, conversation_id: int) -> HttpResponse:
    form = forms.NoteForm(request.POST)

    def act(found: Conversation) -> None:
        if not form.is_valid():
            raise services.ActionRefused(_form_error(form))
        services.note_add(conversation=found, agent=request.agent, body=form.cleaned_data["body"])

    return _act(request, conversation_id, act)


@agent_required
@require_POST
def assign(request: HttpRequest, conversation_id: int) -> HttpResponse:
    form = forms.AssignForm(request.POST)

    def act(found: Conversation) -> None:
        if not form.is_valid():
            raise services.ActionRefused(_("Pick an agent."))
        services.conversation_assign(
            conversation=found, by=request.agent, to=form.cleaned_data["agent"]
        )

    return _act(request, conversation_id, act)


@agent_required
@require_POST
def transfer(request: HttpRequest, conversation_id: int) -> HttpResponse:
    form = forms.TransferForm(request.POST)

    def act(found: Conversation) -> None:
        if not form.is_valid():
            raise services.ActionRefused(_form_error(form))
        services.conversation_transfer(
            conversation=found,
            agent=request.agent,
            team=form.cleaned_data["team"],
            reason=form.cleaned_data["reason"],
        )

    return _act(request, conversation_id, act)


@agent_required
@require_POST
def hand_back(request: HttpRequest, conversation_id: int) -> HttpResponse:
    return _act(
        request,
        conversation_id,
        lambda c: services.conversation_hand_back(conversation=c, agent=request.agent),
    )


@agent_required
@require_POST
def resolve(request: HttpRequest, conversation_id: int) -> HttpResponse:
    form = forms.ResolveForm(request.POST)

    def act(found: Conversation) -> None:
        if not form.is_valid():
            raise services.ActionRefused(_form_error(form))
        data = form.cleaned_data
        saved = None
        if data["save_answer"]:
            saved = services.SavedAnswer(
                question=data["question"],
                answer=data["answer"],
                article_slug=data["article"],
                title=data["title"],
            )
        services.conversation_resolve(
            conversation=found,
            agent=request.agent,
            kind=data["kind"],
            ai_could_have=data["ai_could_have"] == "yes",
            saved_answer=saved,
        )

    return _act(request, conversation_id, act)
