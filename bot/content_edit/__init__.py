"""Content edited in the dashboard (issue 11, section 2): the library behind the editors' API.

    repo.ContentRepo        list, search and read entries as their YAML has them; the content version
    draft.Draft             edits (apply, create, retire, restore, locality values) and `validate`
    checking                what `bot check` says of a draft, each problem at its file, line and field
    publish.publish         conflict check (-> Conflict, 409), validation (-> Invalid, 422), atomic writes
                            under a lock; the caller then reloads the bot (ChatService.reload)
    revisions.RevisionStore the history (who, when, diff) in the SQLite file; revisions.revert
    impact.impact           what a draft changes for the labelled questions (sealed part excluded)
    trial.try_question      the `ask --json` object on any content (live or draft)
    preview.preview         an entry as Telegram, Zalo and the web chat show it
    inbox.draft_from_question  the editor pre-filled from an inbox question
    yamlpatch               the text-preserving YAML edits everything above writes with
"""

from .checking import EditProblem, Invalid, Validation
from .draft import Change, Draft
from .impact import Impact, Move, Route, impact
from .inbox import Prefill, draft_from_question
from .preview import preview
from .publish import Conflict, Published, publish
from .repo import ContentRepo, EntryInfo, NotFound
from .revisions import Revision, RevisionNotFound, RevisionStore, revert
from .trial import Matchers, matcher_for, try_question

__all__ = [
    "Change", "Conflict", "ContentRepo", "Draft", "EditProblem", "EntryInfo", "Impact", "Invalid", "Matchers", "Move", "NotFound",
    "Prefill", "Published", "Revision", "RevisionNotFound", "RevisionStore", "Route", "Validation",
    "draft_from_question", "impact", "matcher_for", "preview", "publish", "revert", "try_question",
]
