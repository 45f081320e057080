"""Whole shopping sessions of persona-driven users, as contract events (pure, seeded).

A session is generated whole from its start time: a register or a login (now and then a profile
edit), maybe a "buy again", views (some after a search, focused on one category) with clicks,
favourites and cart adds, then the end of the session: cart lines dropped, maybe a purchase.
Every draw comes from the one ``random.Random`` it is given (the traffic model's), in the order
the events are generated. :class:`~streams.sim.personas.TrafficModel` decides when sessions start.
"""

from __future__ import annotations

import random
from typing import Any, Final

from streams.sim.catalogue import CATEGORIES, ITEMS, ITEMS_BY_CATEGORY, User, change_trait

_MAX_CART: Final = 8
_MAX_BOUGHT: Final = 12  # remembered for "buy again"
Slot = tuple[int, int, dict[str, Any]]  # (ts, generation number, event)


class Sessions:
    """The session generator of one traffic model; ``rng`` is the model's.

    ``prefix`` starts every event id (set when the stream starts); ``dwell_scale`` shrinks the
    pauses between a session's events (at high activity).
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.prefix = ""
        self.dwell_scale = 1.0
        self._counter = 0

    def session(self, user: User, t: int, out: list[Slot]) -> int:
        """Generate one whole session starting at ``t``; return its end time."""
        rng, p = self._rng, user.persona
        user.sessions += 1
        if user.sessions == 1:
            t = self._emit(out, user, "register", t, {"method": rng.choice(("email", "phone"))})
            t = self._emit(out, user, "identify", t, {}, dict(user.traits))
        elif rng.random() < 0.5:
            t = self._emit(out, user, "login", t, {"method": rng.choice(("password", "sso"))})
            if rng.random() < 0.05:  # profile edit: one trait changed
                name = change_trait(rng, user.traits, user.cities)
                t = self._emit(out, user, "identify", t, {}, {name: user.traits[name]})
        if user.bought and rng.random() < p.reorder:
            index = user.bought[int(rng.random() * len(user.bought))]
            t = self._emit(out, user, "view", t, ITEMS[index].props())
            t = self._add(user, index, t, out)
        lo, hi = p.views
        category, focused = -1, 0
        for _ in range(lo + int(rng.random() * (hi - lo + 1))):
            if rng.random() < p.search:
                category, focused = self._category(user), 1 + int(rng.random() * 3)
                query = rng.choice(CATEGORIES[category].queries)
                t = self._emit(out, user, "search", t, {"query": query})
            t = self._view(user, category if focused > 0 else -1, t, out)
            focused -= 1
        return self._leave(user, t, out)

    def _emit(
        self,
        out: list[Slot],
        user: User,
        etype: str,
        ts: int,
        props: dict[str, Any],
        traits: dict[str, Any] | None = None,
    ) -> int:
        """Append one event; return the time of the next one (after a pause)."""
        self._counter += 1
        event = {
            "event_id": self.prefix + str(self._counter),
            "type": etype,
            "user_id": user.user_id,
            "ts": ts,
            "properties": props,
            "context": user.context.copy(),
        }
        if traits is not None:
            event["traits"] = traits
        out.append((ts, self._counter, event))
        pause = 500 + user.persona.dwell_s * 1000 * self._rng.expovariate(1.0)
        return ts + 1 + int(pause * self.dwell_scale)

    def _category(self, user: User) -> int:
        rng = self._rng
        if rng.random() < user.persona.focus:
            return user.fav_cats[int(rng.random() * len(user.fav_cats))]
        return int(rng.random() * len(CATEGORIES))

    def _item(self, user: User, category: int) -> int:
        rng = self._rng
        if category < 0:
            favs = user.fav_items
            if favs and rng.random() < user.persona.focus * user.persona.loyalty:
                return favs[int(rng.random() * len(favs))]
            category = self._category(user)
        items = ITEMS_BY_CATEGORY[category]
        return items[int(rng.random() * len(items))]

    def _view(self, user: User, category: int, t: int, out: list[Slot]) -> int:
        rng, p = self._rng, user.persona
        index = self._item(user, category)
        item = ITEMS[index]
        t = self._emit(out, user, "view", t, item.props())
        if rng.random() < p.click:
            t = self._emit(out, user, "click", t, item.props())
        if rng.random() < p.favorite:
            t = self._emit(out, user, "favorite", t, item.props())
        if rng.random() < p.add:
            t = self._add(user, index, t, out)
        return t

    def _add(self, user: User, index: int, t: int, out: list[Slot]) -> int:
        item, r = ITEMS[index], self._rng.random()
        qty = 1 + int(r * 4) if item.category == "grocery" else 1 + (r > 0.85) + (r > 0.97)
        user.cart.pop(index, None)  # re-adding moves the line to the end
        user.cart[index] = qty
        return self._emit(out, user, "add_to_cart", t, {**item.props(), "quantity": qty})

    def _leave(self, user: User, t: int, out: list[Slot]) -> int:
        """End of session: drop some cart lines (oldest first if the cart is full), maybe buy."""
        rng, cart = self._rng, user.cart
        for index in list(cart):
            if len(cart) > _MAX_CART or rng.random() < user.persona.remove:
                props = {**ITEMS[index].props(), "quantity": cart.pop(index)}
                t = self._emit(out, user, "remove_from_cart", t, props)
        if cart and rng.random() < user.persona.buy:
            t = self._emit(out, user, "purchase", t, self._order(cart))
            kept = [i for i in user.bought if i not in cart]
            user.bought = kept[max(0, len(kept) + len(cart) - _MAX_BOUGHT) :] + list(cart)
            cart.clear()
        return t

    def _order(self, cart: dict[int, int]) -> dict[str, Any]:
        products = [{**ITEMS[i].props(), "quantity": qty} for i, qty in cart.items()]
        revenue = sum(ITEMS[i].price * qty for i, qty in cart.items())
        order: dict[str, Any] = {
            "order_id": f"{self.prefix}o{self._counter + 1}",
            "revenue": round(revenue, 2),
            "currency": "USD",
            "products": products,
        }
        if len(products) == 1:
            order["category"] = products[0]["category"]
            order["brand"] = products[0]["brand"]
        return order
