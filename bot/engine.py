"""The conversation: Incoming -> [Reply] + Event. Knows no channel.

Every channel (console, web, Telegram, Zalo) turns its platform's update into an `Incoming` and renders
the `Reply`s it gets back; the engine decides everything else: commands, typed numbers, guide navigation,
answers, suggestions, fallbacks, feedback, language, and the analytics `Event` of the interaction
(redacted and pseudonymous before it leaves this module).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from . import present
from .actions import Action, parse_action
from .handover.flow import Caller, Handover, offer_row, with_row
from .handover.store import TicketStore
from .knowledge import FAQ, Guide, KnowledgeBase, OutOfScope
from .matcher import Match, Matcher
from .outreach import PayloadError, StartLink, match_code, parse_payload
from .privacy import hash_user
from .redact import redact, redacted_key
from .replies import Reply, split_reply
from .state import StateStore, UserState
from .text import clean, fold, has_vietnamese_marks

DEFAULT_MAX_LEN = 4096
_OPTION_NUMBER = re.compile(r"[0-9]{1,3}")  # a typed option number: ASCII digits ("²".isdigit() is True)


@dataclass(frozen=True)
class Incoming:
    """One thing a citizen did: typed text, or tapped a button (action), or opened a start link."""

    channel: str
    user_id: str
    text: str | None = None
    action: str | None = None
    start_payload: str | None = None  # deep-link payload; an empty string means a plain /start
    lang_hint: str | None = None  # the platform's idea of the user's language, used on first contact
    lang: str | None = None  # force the reply language (e.g. `ask --lang en`); detection is then ignored
    max_len: int = DEFAULT_MAX_LEN


@dataclass(frozen=True)
class Event:
    """What analytics gets: no raw text, no raw user id."""

    ts: float
    channel: str
    user: str
    lang: str
    kind: str
    topic: str | None = None
    entry_id: str | None = None
    guide_step: int | None = None
    score: float | None = None
    question: str | None = None  # redacted (bot.redact), otherwise as typed (NFKC: diacritics and case kept)
    question_key: str | None = None  # sorted content words: near-identical questions share it
    source: str | None = None
    ward: str | None = None
    feedback: str | None = None


@dataclass(frozen=True)
class Outcome:
    replies: list[Reply]
    event: Event
    match: Match | None = None


@dataclass
class _Turn:
    """Mutable scratch space for one interaction."""

    state: UserState
    lang: str
    lang_locked: bool = False
    replies: list[Reply] = field(default_factory=list)
    kind: str = "fallback"
    entry: FAQ | Guide | None = None
    topic: str | None = None
    step: int | None = None
    score: float | None = None
    feedback: str | None = None
    match: Match | None = None
    caller: Caller | None = None


# Turns of the handover flow: their text (a question being confirmed, an addition) is not a new question
# for analytics; it was recorded when it was asked, and the ticket keeps it.
HANDOVER_KINDS = frozenset({"handover_start", "handover_ward", "handover_confirm", "handover_current", "handover_cancel",
                            "ticket", "ticket_add", "ticket_withdraw", "notify_optin"})
ASKED_KINDS = frozenset({"faq", "guide", "suggest", "fallback"})  # a typed question the bot tried to answer
SHORT_REQUEST_WORDS = 12  # "cho tôi gặp cán bộ với ạ": a handover phrase inside a message this short is a request


class Engine:
    def __init__(self, kb: KnowledgeBase, store: StateStore, salt: str, matcher: Matcher | None = None, tickets: TicketStore | None = None):
        """`tickets`: where handed-over questions go (bot.handover); None turns asking an official off
        (the buttons are not offered, /canbo shows the hotlines)."""
        self.kb = kb
        self.matcher = matcher or Matcher(kb)
        self.store = store
        self.salt = salt
        self.tickets = tickets
        self.handover = Handover(kb, tickets) if tickets is not None else None
        self._commands = {fold(w): name for name, words in kb.commands.items() for w in words}
        self._handover_phrases = tuple(f" {fold(w)} " for w in kb.commands.get("handover", ()))

    def with_knowledge(self, kb: KnowledgeBase) -> "Engine":
        """A new engine on new content (hot reload), sharing the state and ticket stores."""
        return Engine(kb, self.store, self.salt, tickets=self.tickets)

    # -- entry point ----------------------------------------------------------------------------------------
    def handle(self, incoming: Incoming) -> Outcome:
        user = hash_user(self.salt, incoming.channel, incoming.user_id)
        state = self.store.get(user)
        lang = state.lang or (incoming.lang_hint if incoming.lang_hint in ("vi", "en") else "vi")
        turn = _Turn(state=state, lang=incoming.lang or lang, lang_locked=incoming.lang in ("vi", "en"),
                     caller=Caller(user, incoming.channel, incoming.user_id))
        question = question_key = None
        if incoming.action is not None:
            self._action(turn, incoming.action.strip())
        elif incoming.start_payload is not None:
            self._start(turn, incoming.start_payload)
        else:
            text = clean(incoming.text or "")
            redacted = redact(text)  # what is stored; the matcher reads `text`, so redaction never costs an answer
            question = redacted if fold(redacted) else None  # as typed, minus PII: officials read it as an example
            question_key = self._question_key(redacted) if question else None
            self._text(turn, text)
            if turn.kind in ASKED_KINDS and question:
                self._remember_question(turn, question, question_key)
            elif turn.kind in HANDOVER_KINDS:
                question = question_key = None

        replies = [self._remember_options(turn, r) for r in turn.replies]
        state = turn.state.evolve(lang=turn.lang)
        if turn.kind == "forget":
            self.store.delete(user)
            question = question_key = None  # nothing of this message is kept either
        else:
            self.store.put(user, state)
        split = [part for r in replies for part in split_reply(r, incoming.max_len)]
        event = Event(
            ts=time.time(),
            channel=incoming.channel,
            user=user,
            lang=turn.lang,
            kind=turn.kind,
            topic=turn.topic or (turn.entry.topic if turn.entry else None),
            entry_id=turn.entry.id if turn.entry else None,
            guide_step=turn.step,
            score=turn.score,
            question=question,
            question_key=question_key,
            source=state.source,
            ward=state.ward,
            feedback=turn.feedback,
        )
        return Outcome(split, event, turn.match)

    def remember_options(self, user: str, actions: tuple[str, ...]) -> None:
        """Replies the bot did not make in a turn (an official's answer, delivered later) showed these
        buttons: a number typed next picks among them, as it would after any reply (Zalo shows buttons as a
        numbered list). `user` is the salted hash."""
        self.store.put(user, self.store.get(user).evolve(options=actions))

    def _remember_question(self, turn: _Turn, question: str, key: str | None) -> None:
        """What asking an official would send: this question (redacted), what the bot did with it, its topic."""
        match = turn.match
        entries = [a.entry.id for a in match.alternatives] if match is not None and turn.kind == "suggest" else ([turn.entry.id] if turn.entry else [])
        topic = turn.topic or (turn.entry.topic if turn.entry else None) or (self.kb.topic_of_subjects(match.subjects) if match is not None else None)
        turn.state = turn.state.evolve(last_question=question, last_key=key, last_topic=topic, last_attempt=(turn.kind, *entries))

    def _question_key(self, redacted: str) -> str:
        """Order-free content words of the question, so "quen mk vneid" and "vneid quên mật khẩu" group.

        Only ever built from redacted text, and through redacted_key, which keeps sorting from lining up
        kept numbers into one that redaction would remove."""
        stop = self.kb.lexicon.stopwords
        return redacted_key(t for t in self.matcher.normaliser.tokens(redacted) if t not in stop)

    def _remember_options(self, turn: _Turn, reply: Reply) -> Reply:
        if reply.buttons:
            turn.state = turn.state.evolve(options=tuple(b.action for b in reply.flat_buttons))
        return reply

    # -- text -----------------------------------------------------------------------------------------------
    def _text(self, turn: _Turn, text: str) -> None:
        if text.startswith("/"):
            self._command(turn, text)
            return
        folded = fold(text)
        command = self._commands.get(folded)
        if self.handover is not None and turn.state.asking and folded and command is None and not _OPTION_NUMBER.fullmatch(folded):
            self.handover.typed(turn, turn.caller, text, self.tickets.clock())  # the question, or an addition
            return
        if self.handover is not None and self._asks_for_official(folded):
            self._action(turn, "h:ask")
            return
        if not folded:
            turn.kind = "empty"
            turn.replies.append(present.fallback(self.kb, turn.lang, "empty"))
            return
        if _OPTION_NUMBER.fullmatch(folded):
            n = int(folded)
            if 1 <= n <= len(turn.state.options):
                self._action(turn, turn.state.options[n - 1])
                return
        code = match_code(text, self.kb)
        if code is not None:  # a poster code typed on Zalo (or anywhere): like opening its link
            self._arrive(turn, code, welcome=code.target.kind == "menu")
            return
        if command and has_vietnamese_marks(text) and not turn.lang_locked:
            turn.lang = "vi"  # "xoá dữ liệu", "tiếng Việt": certainly Vietnamese, whatever was set before
        if command and self._word_command(turn, command):
            return
        self._question(turn, text)

    def _asks_for_official(self, folded: str) -> bool:
        """"gặp cán bộ", "cho tôi nói chuyện với người thật", "talk to a person": typed alone, or inside a
        short message. In a long letter the same words are usually the story ("tôi đã hỏi cán bộ..."): the
        letter is answered, and the offer comes after a fallback as usual."""
        padded = f" {folded} "
        return len(folded.split()) <= SHORT_REQUEST_WORDS and any(p in padded for p in self._handover_phrases)

    def _word_command(self, turn: _Turn, command: str) -> bool:
        state = turn.state
        if command in ("next", "prev"):
            if not state.guide_id or state.guide_id not in self.kb.guides:
                turn.kind = "guide_none"
                turn.replies.append(present.menu(self.kb, turn.lang, self.kb.message("guide_none", turn.lang)))
                return True
            step = max(0, state.guide_step + (1 if command == "next" else -1))  # "back" on the overview stays there
            self._action(turn, f"g:{state.guide_id}:{step}")
            return True
        if command == "forget":
            self._forget(turn)
            return True
        action = {"menu": "m", "help": "?", "hotline": "h", "lang_en": "l:en", "lang_vi": "l:vi"}.get(command)
        if action:
            self._action(turn, action)
            return True
        return False

    def _question(self, turn: _Turn, text: str) -> None:
        match = self.matcher.search(text)
        turn.match = match
        turn.score = match.score
        if match.lang and not turn.lang_locked:
            turn.lang = match.lang
        lang = turn.lang
        if match.kind == "smalltalk":
            turn.kind = "smalltalk"
            reply = next(s.reply for s in self.kb.smalltalk if s.intent == match.intent)
            turn.replies.append(present.menu(self.kb, lang, reply.get(lang)))
        elif match.kind == "answer" and isinstance(match.entry, Guide):
            self._open_guide(turn, match.entry, 0)
            turn.kind = "guide"
        elif match.kind == "answer":
            self._show_faq(turn, match.entry)
        elif match.kind == "clarify":
            turn.kind = "clarify"
            turn.replies.append(present.clarify(self.kb, lang))
        elif match.kind == "suggest":
            turn.kind = "suggest"
            entries = [s.entry for s in match.alternatives]
            turn.entry = match.entry
            turn.state = turn.state.evolve(suggestions=tuple(present.entry_action(e) for e in entries))
            reply = present.suggestions(self.kb, entries, lang)
            if self.handover is not None:  # none of these fits: a person can help
                reply = Reply(reply.text, (*reply.buttons, offer_row(self.kb, lang, notify=False)))
            turn.replies.append(reply)
        else:
            turn.kind = "fallback"
            reply = present.fallback(self.kb, lang, help_text=self._who_helps(turn, match))
            turn.replies.append(with_row(reply, offer_row(self.kb, lang, notify=True)) if self.handover is not None else reply)

    def _who_helps(self, turn: _Turn, match: Match) -> str:
        """Who can help when we cannot: the out-of-scope item's own office, else the hotline of the topic
        the question names (its services and documents), else of the guide or answer the citizen was
        just reading, else the general one."""
        if isinstance(match.entry, OutOfScope) and match.entry.help is not None:
            return match.entry.help.get(turn.lang)
        topic = self.kb.topic_of_subjects(match.subjects)
        if topic is None and turn.state.last_entry:
            last = self.kb.guides.get(turn.state.last_entry) or self.kb.faqs.get(turn.state.last_entry)
            topic = last.topic if last else None
        return self.kb.where_to_ask(topic, turn.lang)

    def _show_faq(self, turn: _Turn, faq: FAQ) -> None:
        turn.kind = "faq"
        turn.entry = faq
        turn.state = turn.state.evolve(guide_id=None, guide_step=0)
        self._shown(turn, faq.id, asks_feedback=True)
        turn.replies.append(present.faq_answer(self.kb, faq, turn.lang))

    def _open_guide(self, turn: _Turn, guide: Guide, step: int) -> None:
        step = min(max(step, 0), len(guide.steps) + 1)
        turn.kind = "guide_step"
        turn.entry = guide
        turn.step = step
        turn.state = turn.state.evolve(guide_id=guide.id, guide_step=step)
        self._shown(turn, guide.id, asks_feedback=step == len(guide.steps) + 1)  # the wrap-up page asks
        turn.replies.append(present.guide_page(self.kb, guide, step, turn.lang))

    @staticmethod
    def _shown(turn: _Turn, entry_id: str, asks_feedback: bool) -> None:
        """Remember the entry the citizen is shown. A page with the feedback buttons (an FAQ answer, a guide's
        wrap-up) opens a new rating: one 👍 or 👎 counts per showing (see _feedback)."""
        state = turn.state
        rated = state.rated and state.last_entry == entry_id and not asks_feedback
        turn.state = state.evolve(last_entry=entry_id, rated=rated)

    # -- commands and actions -------------------------------------------------------------------------------
    def _command(self, turn: _Turn, text: str) -> None:
        name, _, arg = text[1:].partition(" ")
        name = name.split("@", 1)[0].lower()  # "/start@DigiGuideBot" in Telegram groups
        arg = arg.strip()
        if name == "start":
            self._start(turn, arg)
        elif name == "help":
            self._action(turn, "?")
        elif name == "menu":
            self._action(turn, "m")
        elif name == "forget":
            self._forget(turn)
        elif name in ("canbo", "official"):
            self._action(turn, "h:ask")
        elif name == "lang":
            wanted = fold(arg)[:2]
            self._action(turn, f"l:{wanted if wanted in ('vi', 'en') else ('vi' if turn.lang == 'en' else 'en')}")
        else:
            turn.kind = "unknown_command"
            turn.replies.append(present.menu(self.kb, turn.lang, self.kb.message("help", turn.lang)))

    def _forget(self, turn: _Turn) -> None:
        """/forget: the citizen's state is reset here; the service deletes their analytics events."""
        turn.kind = "forget"
        if self.tickets is not None:
            self.tickets.forget(turn.caller.user)  # tickets, queued replies and "tell me" requests
        turn.state = UserState()
        turn.replies.append(present.menu(self.kb, turn.lang, self.kb.message("forget_done", turn.lang)))

    def _start(self, turn: _Turn, payload: str) -> None:
        """/start with an optional deep-link payload (grammar in bot.outreach). Anything unknown or
        malformed falls back to the plain welcome."""
        link = None
        if payload:
            try:
                link = parse_payload(payload.strip(), self.kb)
            except PayloadError:
                link = None
        self._arrive(turn, link, welcome=True)

    def _arrive(self, turn: _Turn, link: StartLink | None, welcome: bool) -> None:
        """Open what a link or poster code points to; remember the first one as the citizen's source."""
        if link is not None and not turn.state.source:
            ward = link.group.ward if link.group else None
            turn.state = turn.state.evolve(source=link.payload, ward=turn.state.ward or ward)
        opens = link is not None and link.target.kind != "menu"
        if opens and welcome:
            # A poster promised this guide: greet in one line and show it, so it is what the citizen sees.
            turn.replies.append(Reply(self.kb.message("welcome_link", turn.lang)))
        elif welcome or link is None:
            turn.replies.append(present.menu(self.kb, turn.lang, self.kb.message("welcome", turn.lang)))
        if opens:
            self._action(turn, link.target.action)
        turn.kind = "start"

    def _action(self, turn: _Turn, action: str) -> None:
        """A tapped button (or a typed option number, or a link's target), parsed strictly (bot.actions);
        anything malformed, or naming content that is gone, gets the polite stale-button reply."""
        kb, lang = self.kb, turn.lang
        match parse_action(action):
            case Action("m"):
                turn.kind = "menu"
                turn.replies.append(present.menu(kb, lang))
            case Action("?"):
                turn.kind = "help"
                turn.replies.append(present.menu(kb, lang, kb.message("help", lang)))
            case Action("h", verb, ward=ward) if verb and self.handover is not None:
                self.handover.act(turn, turn.caller, verb, ward, self.tickets.clock())
            case Action("h"):  # the helplines (and a handover button when asking an official is off)
                turn.kind = "hotline"
                turn.replies.append(present.hotlines(kb, lang))
            case Action("c") if kb.featured:
                turn.kind = "featured"
                turn.replies.append(present.featured_page(kb, lang))
            case Action("l", new_lang):
                turn.kind = "lang"
                turn.lang = new_lang
                turn.replies.append(present.menu(kb, new_lang, kb.message("lang_set", new_lang)))
            case Action("t", topic, page) if topic in kb.topics:
                turn.kind = "topic"
                turn.topic = topic
                turn.replies.append(present.topic_page(kb, topic, page or 1, lang))
            case Action("f", faq_id) if faq_id in kb.faqs:
                self._show_faq(turn, kb.faqs[faq_id])
            case Action("g", guide_id, step) if guide_id in kb.guides:
                self._open_guide(turn, kb.guides[guide_id], step)
            case Action("s", number=n) if n <= len(turn.state.suggestions):
                self._action(turn, turn.state.suggestions[n - 1])
                turn.kind = "suggestion"
            case Action("fb", entry_id, verdict=verdict) if entry_id in kb.faqs or entry_id in kb.guides:
                self._feedback(turn, kb.faqs.get(entry_id) or kb.guides[entry_id], verdict)
            case _:
                self._stale(turn)

    def _feedback(self, turn: _Turn, entry: FAQ | Guide, verdict: str) -> None:
        """👍/👎 counts only for the entry this citizen was shown last, once per showing: an old button, a
        second tap or a forged action for another entry gets the same polite reply but is not recorded
        (kind "feedback_ignored", no verdict), so nobody can pad an answer's figures."""
        state = turn.state
        turn.entry = entry
        reply = present.feedback_reply(self.kb, entry, verdict, turn.lang)
        if verdict == "down" and self.handover is not None:
            reply = with_row(reply, offer_row(self.kb, turn.lang, notify=False))
        turn.replies.append(reply)
        if state.last_entry != entry.id or state.rated:
            turn.kind = "feedback_ignored"
            return
        turn.kind = "feedback"
        turn.feedback = verdict
        turn.state = state.evolve(rated=True)

    def _stale(self, turn: _Turn) -> None:
        """A button from old content or a forged action: say so politely and show the menu."""
        turn.kind = "stale_action"
        turn.replies.append(present.menu(self.kb, turn.lang, self.kb.message("stale_action", turn.lang)))
