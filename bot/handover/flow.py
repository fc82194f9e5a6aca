"""The engine's side of asking an official: the conversation from "I want a person" to a confirmed ticket,
adding to it or withdrawing it, and "tell me when there is an answer"; and how the outbox's messages read
to the citizen (`outbox_replies`, the courier's render).

    h:ask        start (also /canbo, "gặp cán bộ", "talk to a person", the button after a fallback or 👎):
                 with an open ticket, show it (add / withdraw); else the last question the citizen typed, or
                 ask for one (state.asking = "question")
    h:w:<ward>   the ward it goes to, when the citizen's first-touch ward is unknown ("-": elsewhere)
    h:ok         confirm: the ticket is stored (TicketStore.open_ticket commits) before the reply says its code
    h:edit       type the question again;  h:no  cancel (nothing sent)
    h:add        the next message is added to the open ticket;  h:x  withdraw it
    h:notify     keep the citizen addressable until the question's cluster is resolved (30 days at most)

What is sent is always redacted (bot.redact): the confirmation shows the citizen exactly that text and
says they need not give ID, phone, OTP or account numbers. Turns of this flow record no question in
analytics (the question was recorded when it was asked).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import present
from ..knowledge import FAQ, Guide, KnowledgeBase
from ..redact import redact
from ..replies import Button, Reply
from .hours import VIETNAM
from .store import OutboxItem, TicketError, TicketStore

if TYPE_CHECKING:
    from ..engine import _Turn

MAX_WARD_BUTTONS = 8
WEEKDAYS = {"vi": ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật"),
            "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")}


@dataclass(frozen=True)
class Caller:
    """Who is asking, as the store keeps them: the salted hash, and where to answer (sealed there)."""

    user: str
    channel: str
    address: str


def when_text(kb: KnowledgeBase, lang: str, at: dt.datetime) -> str:
    """"8:00 thứ Ba 08/12" / "8:00 Tuesday 8 Dec" (Vietnam time)."""
    at = at.astimezone(VIETNAM)
    day = WEEKDAYS[lang][at.weekday()]
    if lang == "en":
        return f"{at:%H:%M} {day} {at.day} {at:%b}"
    return f"{at:%H:%M} {day} {at:%d/%m}"


def expectation(kb: KnowledgeBase, lang: str, now: float) -> str:
    """When to expect an answer: within the typical delay, or when the office opens again."""
    hours = kb.office_hours
    due = when_text(kb, lang, dt.datetime.fromtimestamp(hours.due(now), VIETNAM))
    if hours.is_open(now):
        typical = hours.typical_hours
        return kb.message("handover_when_open", lang, hours=f"{typical:g}", due=due)
    return kb.message("handover_when_closed", lang, opens=when_text(kb, lang, hours.next_open(now)), due=due)


def offer_row(kb: KnowledgeBase, lang: str, notify: bool) -> tuple[Button, ...]:
    """The buttons offered after a fallback (and, without "notify", after a 👎)."""
    row = [Button(kb.button("ask_official", lang), "h:ask")]
    if notify:
        row.append(Button(kb.button("notify_me", lang), "h:notify"))
    return tuple(row)


def with_row(reply: Reply, row: tuple[Button, ...]) -> Reply:
    """`reply` with `row` as its first row of buttons."""
    return Reply(reply.text, (row, *reply.buttons))


class Handover:
    """The flow, on one engine's content and the server's ticket store."""

    def __init__(self, kb: KnowledgeBase, tickets: TicketStore):
        self.kb = kb
        self.tickets = tickets

    # -- entry points (the engine calls these) -----------------------------------------------------------
    def act(self, turn: "_Turn", caller: Caller, verb: str, ward: str | None, now: float) -> None:
        handler = {
            "ask": self._ask, "ok": self._confirm, "no": self._cancel, "edit": self._edit,
            "add": self._add_prompt, "x": self._withdraw, "notify": self._notify,
        }.get(verb)
        if verb == "w":
            self._pick(turn, caller, ward, now)
        elif handler is not None:
            handler(turn, caller, now)

    def typed(self, turn: "_Turn", caller: Caller, text: str, now: float) -> None:
        """A message while the flow waits for one (turn.state.asking): the question, or an addition."""
        redacted = redact(text).strip()
        asking = turn.state.asking
        turn.state = turn.state.evolve(asking=None)
        if asking == "addition":
            current = self.tickets.current(caller.user)
            if current is None:
                self._ask(turn, caller, now)
                return
            self.tickets.add(current.id, redacted)
            turn.kind = "ticket_add"
            turn.replies.append(present.menu(self.kb, turn.lang, self.kb.message("handover_added", turn.lang, code=current.code)))
            return
        turn.state = turn.state.evolve(draft=redacted)
        self._ward_or_confirm(turn, caller, now)

    # -- steps -----------------------------------------------------------------------------------------
    def _ask(self, turn: "_Turn", caller: Caller, now: float) -> None:
        kb, lang = self.kb, turn.lang
        current = self.tickets.current(caller.user)
        if current is not None:
            turn.kind = "handover_current"
            text = kb.message("handover_current", lang, code=current.code, question=current.question)
            rows = ((Button(kb.button("add_info", lang), "h:add"), Button(kb.button("withdraw", lang), "h:x")), (Button(kb.button("menu", lang), "m"),))
            turn.replies.append(Reply(text, rows))
            return
        turn.kind = "handover_start"
        if turn.state.last_question:
            turn.state = turn.state.evolve(draft=turn.state.last_question)
            self._ward_or_confirm(turn, caller, now)
            return
        turn.state = turn.state.evolve(asking="question")
        turn.replies.append(Reply(kb.message("handover_ask", lang), ((Button(kb.button("cancel", lang), "h:no"),),)))

    def _ward_or_confirm(self, turn: "_Turn", caller: Caller, now: float) -> None:
        ward = turn.state.draft_ward or turn.state.ward
        if ward is None:
            self._ward_menu(turn)
        else:
            self._confirmation(turn, ward, now)

    def _ward_menu(self, turn: "_Turn") -> None:
        kb, lang = self.kb, turn.lang
        wards = [w for w in kb.locality.get("wards") or [] if isinstance(w, dict) and w.get("id")][:MAX_WARD_BUTTONS]
        rows = [(Button(kb.ward_name(w["id"], lang) or w["id"], f"h:w:{w['id']}"),) for w in wards]
        rows.append((Button(kb.button("other_ward", lang), "h:w:-"), Button(kb.button("cancel", lang), "h:no")))
        turn.kind = "handover_ward"
        turn.replies.append(Reply(kb.message("handover_pick_ward", lang), tuple(rows)))

    def _pick(self, turn: "_Turn", caller: Caller, ward: str | None, now: float) -> None:
        if not turn.state.draft or (ward != "-" and ward not in self.kb.ward_ids):
            self._stale(turn)
            return
        chosen = "" if ward == "-" else ward
        turn.state = turn.state.evolve(draft_ward=chosen)
        self._confirmation(turn, chosen, now)

    def _confirmation(self, turn: "_Turn", ward: str, now: float) -> None:
        kb, lang = self.kb, turn.lang
        text = kb.message("handover_confirm", lang, question=turn.state.draft, ward=self._ward_words(ward, lang), when=expectation(kb, lang, now))
        rows = ((Button(kb.button("send", lang), "h:ok"),), (Button(kb.button("edit_question", lang), "h:edit"), Button(kb.button("cancel", lang), "h:no")))
        turn.state = turn.state.evolve(draft_ward=ward)
        turn.kind = "handover_confirm"
        turn.replies.append(Reply(text, rows))

    def _confirm(self, turn: "_Turn", caller: Caller, now: float) -> None:
        state = turn.state
        if self.tickets.current(caller.user) is not None:  # a second tap on "Send", or a ticket already open: no duplicate
            self._ask(turn, caller, now)
            return
        if not state.draft or state.draft_ward is None:
            self._stale(turn)
            return
        attempt = {"kind": state.last_attempt[0] if state.last_attempt else None, "entries": list(state.last_attempt[1:])}
        ticket = self.tickets.open_ticket(
            user=caller.user, channel=caller.channel, address=caller.address, lang=turn.lang, ward=state.draft_ward,
            topic=state.last_topic, question=state.draft, question_key=state.last_key if state.draft == state.last_question else None,
            attempt=attempt,
        )
        self._notice(ticket.id, ticket.code, state.draft_ward, state.draft)
        turn.state = state.evolve(draft=None, draft_ward=None, last_question=None, asking=None)
        turn.kind = "ticket"
        turn.topic = state.last_topic
        text = self.kb.message("handover_sent", turn.lang, code=ticket.code, when=expectation(self.kb, turn.lang, now))
        turn.replies.append(present.menu(self.kb, turn.lang, text))

    def _notice(self, ticket_id: int, code: str, ward: str, question: str) -> None:
        """The ward's officials' Telegram group hears of the new ticket (locality.yaml handover.notify_chats)."""
        chats = (self.kb.locality.get("handover") or {}).get("notify_chats") or {}
        chat = chats.get(ward) or chats.get("*") if isinstance(chats, dict) else None
        if chat:
            text = self.kb.message("handover_notice", "vi", code=code, ward=self._ward_words(ward, "vi"), question=question)
            self.tickets.notice("telegram", str(chat), text, ticket_id)

    def _edit(self, turn: "_Turn", caller: Caller, now: float) -> None:
        turn.state = turn.state.evolve(asking="question", last_question=None)
        turn.kind = "handover_start"
        turn.replies.append(Reply(self.kb.message("handover_ask", turn.lang), ((Button(self.kb.button("cancel", turn.lang), "h:no"),),)))

    def _cancel(self, turn: "_Turn", caller: Caller, now: float) -> None:
        turn.state = turn.state.evolve(draft=None, draft_ward=None, asking=None)
        turn.kind = "handover_cancel"
        turn.replies.append(present.menu(self.kb, turn.lang, self.kb.message("handover_cancelled", turn.lang)))

    def _add_prompt(self, turn: "_Turn", caller: Caller, now: float) -> None:
        current = self.tickets.current(caller.user)
        if current is None:
            self._ask(turn, caller, now)
            return
        turn.state = turn.state.evolve(asking="addition")
        turn.kind = "handover_current"
        turn.replies.append(Reply(self.kb.message("handover_add_prompt", turn.lang, code=current.code), ((Button(self.kb.button("cancel", turn.lang), "h:no"),),)))

    def _withdraw(self, turn: "_Turn", caller: Caller, now: float) -> None:
        current = self.tickets.current(caller.user)
        if current is None:
            self._stale(turn)
            return
        try:
            self.tickets.withdraw(current.id)
        except TicketError:
            self._stale(turn)
            return
        turn.kind = "ticket_withdraw"
        turn.replies.append(present.menu(self.kb, turn.lang, self.kb.message("handover_withdrawn", turn.lang, code=current.code)))

    def _notify(self, turn: "_Turn", caller: Caller, now: float) -> None:
        state = turn.state
        turn.kind = "notify_optin"
        if not state.last_key or not state.last_attempt or state.last_attempt[0] not in ("fallback", "suggest"):
            turn.replies.append(present.menu(self.kb, turn.lang, self.kb.message("notify_nothing", turn.lang)))
            return
        self.tickets.watch(user=caller.user, channel=caller.channel, address=caller.address, lang=turn.lang, question_key=state.last_key, topic=state.last_topic)
        turn.replies.append(present.menu(self.kb, turn.lang, self.kb.message("notify_optin", turn.lang)))

    def _stale(self, turn: "_Turn") -> None:
        turn.kind = "stale_action"
        turn.replies.append(present.menu(self.kb, turn.lang, self.kb.message("stale_action", turn.lang)))

    def _ward_words(self, ward: str, lang: str) -> str:
        return self.kb.ward_name(ward, lang) or self.kb.message("handover_any_ward", lang)


# -- how the outbox reads to the citizen ----------------------------------------------------------------

def entry_buttons(kb: KnowledgeBase, entry_id: str | None, lang: str) -> tuple[Button, ...]:
    entry: FAQ | Guide | None = kb.faqs.get(entry_id) or kb.guides.get(entry_id) if entry_id else None
    return (Button(present.entry_title(entry, lang), present.entry_action(entry)),) if entry is not None else ()


def outbox_replies(kb: KnowledgeBase, tickets: TicketStore, item: OutboxItem) -> list[Reply]:
    """The replies an outbox item sends, on the content of the moment (an entry attached to a reply, or
    the answer a watcher waited for, as the bot would show it today)."""
    lang = item.lang if item.lang in ("vi", "en") else "vi"
    if item.kind == "notice":
        return [Reply(item.text)]
    if item.kind == "notify":
        entry = kb.faqs.get(item.entry_id or "") or kb.guides.get(item.entry_id or "")
        intro = Reply(kb.message("notify_answer", lang))
        if isinstance(entry, FAQ):
            return [intro, present.faq_answer(kb, entry, lang)]
        if isinstance(entry, Guide):
            return [intro, present.guide_page(kb, entry, 0, lang)]
        return [present.menu(kb, lang, kb.message("notify_answer", lang))]
    ticket = tickets.get(item.ticket_id) if item.ticket_id is not None else None
    ward = kb.ward_name(ticket.ward, lang) if ticket else None
    text = kb.message("handover_reply", lang, code=item.code or "", ward=ward or kb.message("handover_any_ward", lang), text=item.text)
    rows = [row for row in (entry_buttons(kb, item.entry_id, lang),) if row]
    rows.append((Button(kb.button("add_info", lang), "h:add"), Button(kb.button("menu", lang), "m")))
    return [Reply(text, tuple(rows))]
