"""Simulate a support team and measure how honest Baton's wait estimates are.

    .venv/bin/python bench/wait_estimates.py [--days 20] [--seed 1]

A discrete-event simulation: customers arrive at a rate that follows the working day,
agents come online and go on breaks, each agent holds up to a few conversations, and
conversations last a random (log-normal) time. Every customer who is handed off gets the
estimate Baton would show them, from ``escalation.estimates`` (the same code, the same
inputs: their place in the queue, the agents online and their free capacity, the
team's recent handling and pick-up times). The actual wait is measured until an agent's
first answer. Prints the median absolute error and the share of estimates within 30% of
the actual wait, for first estimates and for every update shown while waiting.
"""

import argparse
import heapq
import itertools
import math
import random
import statistics
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from escalation.estimates import (
    PRIOR_HANDLING_SECONDS,
    PRIOR_PICKUP_SECONDS,
    TeamLoad,
    correction_factor,
    estimate_wait_seconds,
    shrunk_mean,
    shrunk_median,
)

DAY = 24 * 3600
WORK_START, WORK_END = 8 * 3600, 18 * 3600


@dataclass
class Agent:
    name: str
    capacity: int
    online: bool = False
    holding: int = 0


@dataclass
class Customer:
    id: int
    arrived: float
    priority: int
    estimates: list[tuple[float, int]] = field(default_factory=list)  # (made at, seconds)
    answered: float | None = None


class Team:
    def __init__(self, rng: random.Random, agents: int) -> None:
        self.rng = rng
        self.agents = [
            Agent(f"agent-{i}", capacity=rng.choice([2, 3, 3, 4])) for i in range(agents)
        ]
        self.queue: list[Customer] = []
        self.handling: deque[float] = deque(maxlen=200)
        self.pickup: deque[float] = deque(maxlen=200)
        # Actual over estimated wait of recent queued customers, as Baton stores them.
        self.ratios: deque[float] = deque(maxlen=200)

    def load(self) -> TeamLoad:
        online = [a for a in self.agents if a.online]
        return TeamLoad(
            agents_online=len(online),
            total_slots=sum(a.capacity for a in online),
            free_slots=sum(max(0, a.capacity - a.holding) for a in online),
            handling_seconds=shrunk_mean(list(self.handling), PRIOR_HANDLING_SECONDS),
            pickup_seconds=shrunk_median(list(self.pickup), PRIOR_PICKUP_SECONDS),
            correction=correction_factor(list(self.ratios)),
        )

    def ordered(self) -> list[Customer]:
        return sorted(self.queue, key=lambda c: (-c.priority, c.arrived, c.id))

    def free_agent(self) -> Agent | None:
        room = [a for a in self.agents if a.online and a.holding < a.capacity]
        return min(room, key=lambda a: a.holding / a.capacity) if room else None


def simulate(days: int, seed: int, agents: int, peak_per_hour: float) -> list[Customer]:
    rng = random.Random(seed)
    team = Team(rng, agents)
    events: list[tuple[float, int, str, object]] = []
    counter = itertools.count()

    def at(time: float, kind: str, payload: object = None) -> None:
        heapq.heappush(events, (time, next(counter), kind, payload))

    # Shifts: each agent works most days, starting and ending around the working day,
    # with a break or two.
    for day in range(days):
        base = day * DAY
        for agent in team.agents:
            if rng.random() < 0.15:
                continue
            start = base + WORK_START + rng.uniform(-1800, 3600)
            end = base + WORK_END + rng.uniform(-3600, 1800)
            at(start, "online", agent)
            at(end, "offline", agent)
            for _ in range(rng.choice([1, 2])):
                pause = rng.uniform(start + 3600, end - 3600)
                at(pause, "offline", agent)
                at(pause + rng.uniform(600, 1800), "online", agent)
        # Arrivals: a Poisson process whose rate rises to a peak in the early afternoon.
        t = base + WORK_START
        while t < base + WORK_END:
            hour = (t - base) / 3600
            rate = peak_per_hour * math.exp(-((hour - 13) ** 2) / 12) / 3600
            t += rng.expovariate(max(rate, 1e-6))
            if t < base + WORK_END:
                at(t, "arrive")

    customers: list[Customer] = []
    ids = itertools.count()

    def tell_queue(now: float) -> None:
        """Like the product's queue refresh: each waiting customer gets the current figure."""
        load = team.load()
        for position, customer in enumerate(team.ordered(), start=1):
            seconds = estimate_wait_seconds(position, load)
            if seconds is None:
                continue
            last = customer.estimates[-1][1] if customer.estimates else None
            if last is None or abs(seconds - last) > max(30, 0.2 * last):
                customer.estimates.append((now, seconds))

    def dispatch(now: float) -> None:
        while team.queue and (agent := team.free_agent()) is not None:
            customer = team.ordered()[0]
            team.queue.remove(customer)
            agent.holding += 1
            pickup = rng.expovariate(1 / 40)
            at(now + pickup, "answered", (customer, agent, pickup))

    while events:
        now, _, kind, payload = heapq.heappop(events)
        if kind == "arrive":
            customer = Customer(next(ids), now, priority=10 if rng.random() < 0.1 else 0)
            customers.append(customer)
            team.queue.append(customer)
            position = team.ordered().index(customer) + 1
            seconds = estimate_wait_seconds(position, team.load())
            if seconds is not None:
                customer.estimates.append((now, seconds))
            dispatch(now)
        elif kind == "answered":
            customer, agent, pickup = payload
            customer.answered = now
            team.pickup.append(pickup)
            team.ratios.extend(
                (now - made) / seconds for made, seconds in customer.estimates if seconds >= 60
            )
            duration = rng.lognormvariate(math.log(7 * 60), 0.7)
            at(now + duration, "done", (agent, duration))
        elif kind == "done":
            agent, duration = payload
            agent.holding -= 1
            team.handling.append(duration)
            dispatch(now)
        elif kind == "online":
            payload.online = True
            dispatch(now)
        elif kind == "offline":
            payload.online = False
        tell_queue(now)
    return [c for c in customers if c.answered is not None and c.estimates]


def report(customers: list[Customer]) -> None:
    def errors(pairs):
        absolute = [abs(estimate - actual) for estimate, actual in pairs]
        within = [abs(estimate - actual) <= 0.3 * actual for estimate, actual in pairs if actual]
        return statistics.median(absolute), sum(within) / len(within)

    first = [(c.estimates[0][1], c.answered - c.estimates[0][0]) for c in customers]
    every = [(s, c.answered - made) for c in customers for made, s in c.estimates]
    # Grouped by what the customer was told, not by what happened (that would pick the
    # customers for whom things went wrong).
    queued = [(e, a) for e, a in first if e > 120]
    print(f"{'estimates':<34}{'count':>7}{'median abs error':>18}{'within 30%':>12}")
    for label, pairs in [
        ("first estimate shown", first),
        ("every estimate shown", every),
        ("first, when told over 2 minutes", queued),
    ]:
        if pairs:
            mae, share = errors(pairs)
            print(f"{label:<34}{len(pairs):>7}{mae:>16.0f} s{share:>12.0%}")
    waits = sorted(a for _e, a in first)
    print(
        f"\nactual waits: median {statistics.median(waits):.0f} s, "
        f"90th percentile {waits[int(0.9 * len(waits))]:.0f} s, {len(waits)} customers"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--peak-per-hour", type=float, default=45.0)
    args = parser.parse_args()
    customers = simulate(args.days, args.seed, args.agents, args.peak_per_hour)
    print(
        f"Wait-estimate simulation: {args.days} days, {args.agents} agents, peak "
        f"{args.peak_per_hour:.0f} handoffs an hour, seed {args.seed}\n"
    )
    report(customers)


if __name__ == "__main__":
    main()
