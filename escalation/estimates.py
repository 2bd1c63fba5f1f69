"""How long a customer will wait for a human: the formula in docs/wait-estimates.md.

Pure functions of a team's state, so the simulation in bench/wait_estimates.py measures
exactly what customers are told.
"""

from dataclasses import dataclass
from statistics import fmean, median

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

# What a team with no history yet is assumed to need, until it has a few conversations.
PRIOR_HANDLING_SECONDS = 8 * 60
PRIOR_PICKUP_SECONDS = 45
PRIOR_WEIGHT = 5


@dataclass(frozen=True)
class TeamLoad:
    agents_online: int
    # Capacity of the online agents, and how much of it is free right now.
    total_slots: int
    free_slots: int
    # Typical time an agent spends on a conversation, and takes to answer a new one.
    handling_seconds: float
    pickup_seconds: float
    # How far off this team's recent estimates were: actual over estimated wait.
    correction: float = 1.0


def shrunk_median(samples: list[float], prior: float, weight: int = PRIOR_WEIGHT) -> float:
    """The median of recent samples, pulled towards a prior while there are few of them."""
    if not samples:
        return prior
    n = len(samples)
    return (n * median(samples) + weight * prior) / (n + weight)


def shrunk_mean(samples: list[float], prior: float, weight: int = PRIOR_WEIGHT) -> float:
    """Like shrunk_median, for a rate: slots free up at the mean duration, not the median."""
    if not samples:
        return prior
    n = len(samples)
    return (n * fmean(samples) + weight * prior) / (n + weight)


def correction_factor(ratios: list[float], weight: int = 20) -> float:
    """How much to stretch queue waits, learnt from recent actual/estimated ratios.

    Starts at 1 and moves towards the median ratio as evidence comes in, within 0.5-3.
    """
    if not ratios:
        return 1.0
    n = len(ratios)
    factor = (n * median(ratios) + weight * 1.0) / (n + weight)
    return min(3.0, max(0.5, factor))


def estimate_wait_seconds(position: int, load: TeamLoad) -> int | None:
    """Seconds until an agent answers the customer at this place in the queue (1 = next).

    None when no agent of the team can take work: the customer gets the offline promise.
    A customer who fits in the free slots waits only for an agent to pick up. Otherwise
    the k-th slot to free up is waited for: each of the team's slots frees up after
    about one (mean) handling time, so together they free one every handling / slots
    seconds. The queue part is then stretched by what the team's recent estimates
    missed by (breaks, long conversations), so the estimate corrects itself.
    """
    if load.agents_online == 0 or load.total_slots == 0:
        return None
    if position <= load.free_slots:
        return round(load.pickup_seconds)
    still_to_free = position - load.free_slots
    queued = still_to_free * load.handling_seconds / load.total_slots * load.correction
    return round(load.pickup_seconds + queued)


def wait_in_words(seconds: int) -> str:
    """An honest, human figure: rounded, never more precise than we can be."""
    if seconds < 60:
        return _("less than a minute")
    minutes = round(seconds / 60)
    if minutes < 10:
        return ngettext("about %(n)d minute", "about %(n)d minutes", minutes) % {"n": minutes}
    if minutes < 90:
        rounded = 5 * round(minutes / 5)
        return _("about %(n)d minutes") % {"n": rounded}
    hours = round(minutes / 60)
    return ngettext("about %(n)d hour", "about %(n)d hours", hours) % {"n": hours}
