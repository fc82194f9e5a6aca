"""Start payloads, poster codes and links: how a working group's link or poster opens the right guide.

Payload grammar (Telegram allows at most 64 characters of A-Za-z0-9_-; the web chat uses the same):

    payload := target [ "__" group ]
    target  := "g-" <guide id> | "t-" <topic id> | "f-" <faq id> | "menu"
    group   := <working group id>                       (content/locality.yaml, working_groups)

    g-eid-activate                 the guide "eid-activate"
    g-eid-activate__tdp-phuc-yen-5 the same, brought by working group "tdp-phuc-yen-5"
    menu__tdp-phuc-yen-5           the topic menu, brought by that group

Zalo bots take no start parameter, so every guide and every working group has a short code printed on
the poster. A citizen types the guide code, optionally followed by the group code ("ID1 TDP5"); case,
spaces, dashes and diacritics do not matter. A group code alone opens the menu for that group.

The first payload or code a citizen arrives with is their source (first touch); its group is carried on
every later event, so reports can say which posters and links brought people in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .knowledge import KnowledgeBase, WorkingGroup
from .text import fold

MAX_PAYLOAD = 64
GROUP_SEPARATOR = "__"
PAYLOAD_CHARS = re.compile(r"^[A-Za-z0-9_-]+$")
_CODE_NOISE = re.compile(r"[\s\-_.:/]+")


@dataclass(frozen=True)
class Target:
    kind: str  # guide | topic | faq | menu
    id: str | None = None

    @property
    def action(self) -> str:
        return {"guide": f"g:{self.id}:0", "topic": f"t:{self.id}", "faq": f"f:{self.id}", "menu": "m"}[self.kind]

    @property
    def payload(self) -> str:
        return "menu" if self.kind == "menu" else f"{self.kind[0]}-{self.id}"


@dataclass(frozen=True)
class StartLink:
    target: Target
    group: WorkingGroup | None = None

    @property
    def payload(self) -> str:
        return build_payload(self.target, self.group)


class PayloadError(ValueError):
    """Why a payload was refused (shown by `links` and the tests; citizens just get the welcome)."""


def build_payload(target: Target, group: WorkingGroup | None = None) -> str:
    payload = target.payload + (GROUP_SEPARATOR + group.id if group else "")
    if len(payload) > MAX_PAYLOAD or not PAYLOAD_CHARS.match(payload):
        raise PayloadError(f"payload {payload!r} breaks Telegram's rule (at most {MAX_PAYLOAD} of A-Za-z0-9_-)")
    return payload


def parse_payload(payload: str, kb: KnowledgeBase) -> StartLink:
    """A payload into its target and group; raises PayloadError saying what is wrong."""
    if not payload:
        raise PayloadError("empty payload")
    if len(payload) > MAX_PAYLOAD:
        raise PayloadError(f"payload longer than {MAX_PAYLOAD} characters")
    if not PAYLOAD_CHARS.match(payload):
        raise PayloadError("payload may only contain A-Za-z0-9_-")
    target_part, _, group_part = payload.partition(GROUP_SEPARATOR)
    group = None
    if group_part:
        group = kb.working_groups.get(group_part)
        if group is None:
            raise PayloadError(f"unknown working group {group_part!r}")
    if target_part == "menu":
        return StartLink(Target("menu"), group)
    kind, _, ident = target_part.partition("-")
    known = {"g": ("guide", kb.guides), "t": ("topic", kb.topics), "f": ("faq", kb.faqs)}.get(kind)
    if known is None or not ident:
        raise PayloadError(f"unknown target {target_part!r} (use g-<guide>, t-<topic>, f-<faq> or menu)")
    name, table = known
    if ident not in table:
        raise PayloadError(f"unknown {name} {ident!r}")
    return StartLink(Target(name, ident), group)


def normalise_code(text: str) -> str:
    """'id 1 - TDP5', 'Id1tdp5', 'ĐN1' -> 'id1tdp5', 'dn1': what a citizen typed, as a code."""
    return _CODE_NOISE.sub("", fold(text))


def match_code(text: str, kb: KnowledgeBase) -> StartLink | None:
    """A typed poster code ("<guide code>[ <group code>]" or "<group code>"), or None."""
    typed = normalise_code(text)
    if not typed or len(typed) > 24 or not any(ch.isdigit() for ch in typed):
        return None
    groups = {normalise_code(g.code): g for g in kb.working_groups.values()}
    if typed in groups:
        return StartLink(Target("menu"), groups[typed])
    for guide in kb.guides.values():
        if not guide.code:
            continue
        code = normalise_code(guide.code)
        if typed == code:
            return StartLink(Target("guide", guide.id))
        if typed.startswith(code) and typed[len(code) :] in groups:
            return StartLink(Target("guide", guide.id), groups[typed[len(code) :]])
    return None


def group_of(source: str | None) -> str | None:
    """The working group id inside a stored source tag (a canonical payload), if any."""
    if not source or GROUP_SEPARATOR not in source:
        return None
    return source.partition(GROUP_SEPARATOR)[2] or None


@dataclass(frozen=True)
class LinkRow:
    group: str | None
    target: str
    title: str
    payload: str
    telegram: str
    web: str
    zalo_code: str


def link_rows(kb: KnowledgeBase, telegram_username: str, public_url: str, group_id: str | None = None, lang: str = "vi") -> list[LinkRow]:
    """Every guide link, for every working group (or one), plus the plain menu link of each group."""
    groups = [kb.working_groups[group_id]] if group_id else [None, *kb.working_groups.values()]
    rows = []
    base = public_url.rstrip("/")
    for group in groups:
        targets = [Target("menu"), *(Target("guide", g) for g in kb.guides)]
        for target in targets:
            payload = build_payload(target, group)
            guide = kb.guides.get(target.id) if target.kind == "guide" else None
            code_parts = [guide.code if guide else "", group.code if group else ""]
            rows.append(
                LinkRow(
                    group=group.id if group else None,
                    target=target.payload,
                    title=guide.title.get(lang) if guide else kb.button("menu", lang),
                    payload=payload,
                    telegram=f"https://t.me/{telegram_username}?start={payload}",
                    web=f"{base}/?start={payload}",
                    zalo_code=" ".join(p for p in code_parts if p),
                )
            )
    return rows
