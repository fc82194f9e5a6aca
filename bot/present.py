"""Turn content into Replies: one place decides how an answer, a guide step or a menu looks.

Used by the engine (to answer) and by `check` (to measure every reply against platform limits before a
citizen ever sees it).
"""

from __future__ import annotations

from .knowledge import FAQ, Guide, KnowledgeBase
from .replies import Button, Reply

TOPIC_PAGE_SIZE = 8


def menu_buttons(kb: KnowledgeBase, lang: str) -> tuple[tuple[Button, ...], ...]:
    topics = [Button(t.title.get(lang), f"t:{t.id}") for t in kb.topics.values()]
    rows = [(Button(kb.button("featured", lang), "c"),)] if kb.featured else []
    rows += [tuple(topics[i : i + 2]) for i in range(0, len(topics), 2)]
    rows.append((Button(kb.button("hotline", lang), "h"), Button(kb.button("switch_lang", lang), f"l:{'vi' if lang == 'en' else 'en'}")))
    return tuple(rows)


def menu(kb: KnowledgeBase, lang: str, text: str | None = None) -> Reply:
    return Reply(text or kb.message("menu", lang), menu_buttons(kb, lang))


def entry_title(entry: FAQ | Guide, lang: str) -> str:
    return entry.title.get(lang) if isinstance(entry, Guide) else entry.title(lang)


def entry_action(entry: FAQ | Guide) -> str:
    return f"g:{entry.id}:0" if isinstance(entry, Guide) else f"f:{entry.id}"


def featured_page(kb: KnowledgeBase, lang: str) -> Reply:
    """The tasks people do most (messages.yaml `featured`), one tap from the menu."""
    entries = [kb.guides.get(i) or kb.faqs[i] for i in kb.featured]
    rows = [(Button(("📘 " if isinstance(e, Guide) else "") + entry_title(e, lang), entry_action(e)),) for e in entries]
    rows.append((Button(kb.button("menu", lang), "m"),))
    return Reply(kb.message("featured", lang), tuple(rows))


def topic_page(kb: KnowledgeBase, topic_id: str, page: int, lang: str) -> Reply:
    entries = kb.entries_of(topic_id)
    pages = max(1, -(-len(entries) // TOPIC_PAGE_SIZE))
    page = min(max(page, 1), pages)
    chunk = entries[(page - 1) * TOPIC_PAGE_SIZE : page * TOPIC_PAGE_SIZE]
    rows = [(Button(("📘 " if isinstance(e, Guide) else "") + entry_title(e, lang), entry_action(e)),) for e in chunk]
    nav = []
    if page < pages:
        nav.append(Button(kb.button("more", lang), f"t:{topic_id}:{page + 1}"))
    nav.append(Button(kb.button("menu", lang), "m"))
    rows.append(tuple(nav))
    text = kb.message("topic", lang, topic=kb.topics[topic_id].title.get(lang), page=page, pages=pages)
    return Reply(text, tuple(rows))


def feedback_row(kb: KnowledgeBase, entry_id: str, lang: str) -> tuple[Button, ...]:
    return (Button(kb.button("helpful", lang), f"fb:{entry_id}:up"), Button(kb.button("not_helpful", lang), f"fb:{entry_id}:down"))


def faq_answer(kb: KnowledgeBase, faq: FAQ, lang: str) -> Reply:
    rows = []
    if faq.guide:
        rows.append((Button(kb.button("start_guide", lang), f"g:{faq.guide}:0"),))
    rows.append(feedback_row(kb, faq.id, lang))
    rows.append((Button(kb.button("topic", lang), f"t:{faq.topic}"), Button(kb.button("menu", lang), "m")))
    text = f"{faq.answer.get(lang)}\n\n{kb.message('feedback_question', lang)}"
    return Reply(text, tuple(rows))


def guide_page(kb: KnowledgeBase, guide: Guide, step: int, lang: str) -> Reply:
    """Step 0 is the overview (who it is for, what to prepare); 1..n are the steps; n+1 the wrap-up."""
    total = len(guide.steps)
    step = min(max(step, 0), total + 1)
    menu_button = Button(kb.button("menu", lang), "m")
    if step == 0:
        prepare = "\n".join(f"• {item}" for item in guide.prepare.get(lang))
        text = kb.message("guide_intro", lang, title=guide.title.get(lang), audience=guide.audience.get(lang), prepare=prepare, total=total)
        return Reply(text, ((Button(kb.button("begin", lang), f"g:{guide.id}:1"),), (menu_button,)))
    if step <= total:
        text = kb.message("guide_step", lang, step=step, total=total, text=guide.steps[step - 1].get(lang))
        nav = (Button(kb.button("prev", lang), f"g:{guide.id}:{step - 1}"), Button(kb.button("next", lang), f"g:{guide.id}:{step + 1}"))
        return Reply(text, (nav, (menu_button,)))
    problems = "\n\n".join(f"• {p.problem.get(lang)}\n  → {p.fix.get(lang)}" for p in guide.problems)
    text = kb.message("guide_end", lang, problems=problems, help=kb.where_to_ask(guide.topic, lang))
    text = f"{text}\n\n{kb.message('feedback_question', lang)}"
    return Reply(text, ((Button(kb.button("prev", lang), f"g:{guide.id}:{total}"),), feedback_row(kb, guide.id, lang), (menu_button,)))


def suggestions(kb: KnowledgeBase, entries: list[FAQ | Guide], lang: str) -> Reply:
    rows = [(Button(entry_title(e, lang), f"s:{i}"),) for i, e in enumerate(entries, 1)]
    rows.append((Button(kb.button("menu", lang), "m"), Button(kb.button("hotline", lang), "h")))
    return Reply(kb.message("suggest", lang), tuple(rows))


def fallback(kb: KnowledgeBase, lang: str, message: str = "fallback", help_text: str | None = None) -> Reply:
    """The honest "I don't know", with whoever can help (`help_text`: the topic's hotline) and the menu."""
    if message == "fallback":
        return menu(kb, lang, kb.message("fallback", lang, help=help_text or kb.where_to_ask(None, lang)))
    return menu(kb, lang, kb.message(message, lang))


def clarify(kb: KnowledgeBase, lang: str) -> Reply:
    """A message that asks nothing specific: ask back, with the menu."""
    return menu(kb, lang, kb.message("clarify", lang))


def feedback_reply(kb: KnowledgeBase, entry: FAQ | Guide, verdict: str, lang: str) -> Reply:
    """After 👍 the citizen keeps the menu; after 👎 they also get who can help on that answer's topic."""
    if verdict == "up":
        return menu(kb, lang, kb.message("feedback_up", lang))
    return menu(kb, lang, kb.message("feedback_down", lang, help=kb.where_to_ask(entry.topic, lang)))


def hotlines(kb: KnowledgeBase, lang: str) -> Reply:
    return Reply(kb.message("hotlines", lang), ((Button(kb.button("menu", lang), "m"),),))


def all_replies(kb: KnowledgeBase):
    """Every reply the content can produce (for size checks): yields (location, description, Reply)."""
    for lang in ("vi", "en"):
        yield "content/messages.yaml", "menu", menu(kb, lang, kb.message("welcome", lang))
        yield "content/messages.yaml", "help", menu(kb, lang, kb.message("help", lang))
        yield "content/messages.yaml", "hotlines", hotlines(kb, lang)
        yield "content/messages.yaml", "fallback", fallback(kb, lang)
        yield "content/messages.yaml", "clarify", clarify(kb, lang)
        if kb.featured:
            yield "content/messages.yaml", "featured", featured_page(kb, lang)
        for topic in kb.topics:
            yield "content/topics.yaml", f"fallback for topic {topic}", fallback(kb, lang, help_text=kb.where_to_ask(topic, lang))
        for item in kb.out_of_scope:
            if item.help is not None:
                yield item.location, f"fallback for out-of-scope {item.id}", fallback(kb, lang, help_text=item.help.get(lang))
        for topic in kb.topics:
            entries = kb.entries_of(topic)
            for page in range(1, 2 + len(entries) // TOPIC_PAGE_SIZE):
                yield "content/topics.yaml", f"topic {topic} page {page}", topic_page(kb, topic, page, lang)
        for faq in kb.faqs.values():
            yield faq.location, f"answer of {faq.id} ({lang})", faq_answer(kb, faq, lang)
        for guide in kb.guides.values():
            for step in range(len(guide.steps) + 2):
                yield guide.location, f"guide {guide.id} step {step} ({lang})", guide_page(kb, guide, step, lang)
