"""The `ask --json` record (DESIGN.md's contract plus `explain`), built from one engine outcome.

Shared by `python -m bot ask --json` and the editors' "try a question" box, so an editor sees exactly the
object a script gets.
"""

from __future__ import annotations

from dataclasses import asdict

from .engine import Outcome

ASK_KINDS = {"faq", "guide", "suggest", "smalltalk", "fallback"}


def ask_record(outcome: Outcome) -> dict:
    """The `ask --json` contract of DESIGN.md, built from one engine outcome."""
    event, match = outcome.event, outcome.match
    kind = event.kind if event.kind in ASK_KINDS else "fallback"
    if event.kind == "guide_step":
        kind = "guide"
    elif event.kind == "clarify":
        kind = "smalltalk"  # the bot asks back with the menu: conversation, not an answer
    suggestions = []
    if match is not None and kind == "suggest":
        for scored in match.alternatives:
            entry = scored.entry
            title = entry.title.get(event.lang) if hasattr(entry.title, "get") else entry.title(event.lang)
            suggestions.append({"id": entry.id, "topic": entry.topic, "title": title})
    entry_id = event.entry_id if kind in ("faq", "guide", "suggest") else None
    topic = event.topic if kind in ("faq", "guide", "suggest") else None
    return {
        "kind": kind,
        "topic": topic,
        "id": entry_id,
        "score": round(float(match.score if match else 0.0), 4),
        "lang": event.lang,
        "text": "\n\n".join(r.text for r in outcome.replies),
        "suggestions": suggestions,
        "explain": explain(match),
    }


def explain(match) -> dict | None:
    """Why the matcher decided what it did: the reason, the score's parts for the best candidates, the
    services and documents named, and the part of a long message that was read as the question."""
    if match is None:
        return None
    candidates = []
    for scored in match.alternatives[:3]:
        row = {"id": scored.entry.id, "score": scored.score}
        if scored.parts is not None:
            row.update(asdict(scored.parts))
        candidates.append(row)
    return {
        "decision": match.kind,
        "reason": match.reason,
        "intent": match.intent,
        "subjects": sorted(match.subjects),
        "question_part": match.focus or None,
        "unknown_share": round(match.unknown_share, 3),
        "candidates": candidates,
    }
