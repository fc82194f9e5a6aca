"""Editing content from the dashboard (bot.content_edit): what an editor notices.

Every test works on `content_copy` (a copy of the real content in tmp_path), never on content/.
"""

import copy
import re
import threading

import pytest
import yaml

from bot.content_edit import Conflict, ContentRepo, Draft, Invalid, NotFound, RevisionStore, publish, revert
from bot.content_edit.layout import RETIRED_FAQ, content_version
from bot.knowledge import load_knowledge

ENTRY = "eid-levels"  # an FAQ entry in the middle of content/faq/eid.yaml
FILE = "faq/eid.yaml"


@pytest.fixture
def repo(content_copy):
    return ContentRepo(content_copy)


@pytest.fixture
def store(db_target):
    """The revision history, once on each engine (SQLite file, PostgreSQL)."""
    s = RevisionStore(db_target)
    yield s
    s.close()


def entry_lines(text: str, entry_id: str) -> tuple[int, int]:
    """[first, end) line numbers (0-based) of an FAQ entry: from its `- id:` to the next entry's."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(f"- id: {entry_id}\n"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("- id: ")), len(lines))
    return start, end


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# -- reading ---------------------------------------------------------------------------------------------------
def test_version_is_the_loaders_and_entries_list_and_search(repo, content_copy):
    assert repo.version() == load_knowledge(content_copy).version
    entries = repo.entries()
    kb = load_knowledge(content_copy)
    assert {e.id for e in entries if e.kind == "faq"} == set(kb.faqs)
    assert {e.id for e in entries if e.kind == "guide"} == set(kb.guides)
    levels = next(e for e in entries if e.id == ENTRY)
    assert levels.file == FILE and levels.topic == "eid" and not levels.retired and levels.review_state in ("ok", "due")
    assert levels.title_vi == kb.faqs[ENTRY].questions.vi[0]
    assert (content_copy / FILE).read_text().splitlines()[levels.line - 1] == f"- id: {ENTRY}"
    # accents, case and word order do not matter; filters combine
    found = [e.id for e in repo.search("QUEN mat khẩu")]
    assert "eid-forgot-password" in found and all(e.id in found for e in repo.search("mật khẩu quên"))
    assert {e.topic for e in repo.search(topic="qr")} == {"qr"}
    assert [e.kind for e in repo.search("kich hoat", kind="guide")] and all(e.kind == "guide" for e in repo.search("kich hoat", kind="guide"))
    assert repo.search("xyzzy-nothing") == []


def test_get_is_the_yaml_as_written_and_json_able(repo):
    import json

    entry = repo.get("faq", ENTRY)
    assert entry["id"] == ENTRY and list(entry)[:3] == ["id", "topic", "questions"]
    assert "{offices.police.name}" in entry["answer"]["vi"]  # placeholders as written, not filled in
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", entry["reviewed"])
    json.dumps(entry)
    assert repo.snapshot("faq", ENTRY) == (entry, repo.version())
    guide = repo.get("guide", "eid-activate")
    assert guide["code"] == "ID1" and len(guide["steps"]) >= 3
    with pytest.raises(NotFound):
        repo.get("faq", "no-such-entry")
    with pytest.raises(NotFound):
        repo.get("guide", "../locality")


def test_review_state_due_when_last_review_is_old(repo, content_copy):
    path = content_copy / FILE
    text = path.read_text()
    start, end = entry_lines(text, ENTRY)
    lines = text.splitlines(keepends=True)
    lines[start:end] = [re.sub(r"reviewed: \S+", "reviewed: 2020-01-01", line) for line in lines[start:end]]
    path.write_text("".join(lines))
    due = {e.id: e for e in repo.search(review_state="due")}
    assert due[ENTRY].review_reasons[0].startswith("reviewed 2020-01-01")  # bot.freshness's words
    assert ENTRY not in [e.id for e in repo.search(review_state="ok")]


# -- saving keeps everything else ------------------------------------------------------------------------------
def test_edit_rewrites_only_the_changed_lines_comments_and_order_kept(repo, content_copy):
    path = content_copy / FILE
    before = path.read_text()
    entry = repo.get("faq", ENTRY)
    entry["questions"]["vi"].append("muc 1 va muc 2 khac gi nhau vay ad")
    entry["answer"]["en"] = entry["answer"]["en"].replace("get level 2", "apply for level 2")
    draft = Draft(repo)
    draft.apply("faq", ENTRY, entry)
    published = publish(draft, "alice")
    after = path.read_text()
    s0, e0 = entry_lines(before, ENTRY)
    s1, e1 = entry_lines(after, ENTRY)
    old_lines, new_lines = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert new_lines[:s1] == old_lines[:s0]  # everything before the entry, the header comments included
    assert new_lines[e1:] == old_lines[e0:]  # and everything after it, byte for byte
    assert old_lines[0].startswith("# ") and new_lines[0] == old_lines[0]
    changed = [line for line in new_lines[s1:e1] if line not in old_lines[s0:e0]]
    assert changed == ["      - muc 1 va muc 2 khac gi nhau vay ad\n", next(line for line in new_lines[s1:e1] if "apply for level 2" in line)]
    assert len(new_lines[s1:e1]) == len(old_lines[s0:e0]) + 1
    kb = load_knowledge(content_copy)
    assert published.version == kb.version == content_version(content_copy)
    assert "muc 1 va muc 2 khac gi nhau vay ad" in kb.faqs[ENTRY].questions.vi


def test_a_guide_edit_keeps_its_comment_flow_title_and_quotes(repo, content_copy):
    path = content_copy / "guides/eid-activate.yaml"
    before = path.read_text()
    guide = repo.get("guide", "eid-activate")
    guide["title"]["en"] = "Activate your VNeID account once it is approved"
    guide["steps"][1]["en"] = guide["steps"][1]["en"] + " Ask at the ward if unsure."
    draft = Draft(repo)
    draft.apply("guide", "eid-activate", guide)
    publish(draft, "alice")
    after = path.read_text()
    assert after.splitlines()[1] == before.splitlines()[1]  # `code: ID1  # typed on Zalo ...` comment kept
    diff = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert len(diff) == 2 and len(before.splitlines()) == len(after.splitlines())
    assert diff[0][1] == 'title: {vi: "Kích hoạt tài khoản VNeID sau khi được duyệt", en: "Activate your VNeID account once it is approved"}'
    assert diff[1][1].startswith('    en: "') and diff[1][1].endswith(' Ask at the ward if unsure."')


def test_saving_an_unchanged_entry_changes_nothing(repo, content_copy, store):
    before = (content_copy / FILE).read_text()
    draft = Draft(repo)
    draft.apply("faq", ENTRY, repo.get("faq", ENTRY))
    published = publish(draft, "alice", store)
    assert (content_copy / FILE).read_text() == before and published.version == repo.version()
    assert published.revisions == [] and store.list() == []


# -- validation ---------------------------------------------------------------------------------------------------
def test_problems_name_file_line_and_field_of_the_edited_entry(repo, content_copy):
    entry = repo.get("faq", ENTRY)
    entry["answer"]["en"] = "See {hotlines.nowhere.number} for help."
    entry["questions"]["vi"][2] = "   "
    entry["reviewed"] = "2026-13-45"
    draft = Draft(repo)
    draft.apply("faq", ENTRY, entry)
    result = draft.validate()
    assert not result.ok and result.kb is None
    by_field = {p.field: p for p in result.problems}
    lines = draft.text(FILE).splitlines()
    s, _ = entry_lines(draft.text(FILE), ENTRY)
    placeholder = by_field["answer.en"]
    assert placeholder.file == "content/faq/eid.yaml" and "hotlines.nowhere.number" in placeholder.message
    assert lines[placeholder.line - 1] == "    en: |" and "{hotlines.nowhere.number}" in lines[placeholder.line]
    assert placeholder.line > s  # inside the edited entry, in the edited file
    empty = by_field["questions.vi.2"]
    assert lines[empty.line - 1] == "      - ''" and "empty" in empty.message
    assert lines[by_field["reviewed"].line - 1] == "  reviewed: '2026-13-45'" and "YYYY-MM-DD" in by_field["reviewed"].message
    assert len(result.problems) == 3
    # the same problems `bot check` reports on that content, with nothing written
    assert (content_copy / FILE).read_text() == repo.read(FILE)
    with pytest.raises(Invalid) as exc:
        publish(draft, "alice")
    assert {p.field for p in exc.value.problems} >= {"answer.en", "questions.vi.2", "reviewed"}
    assert "hotlines.nowhere.number" not in (content_copy / FILE).read_text()


def test_missing_and_unknown_keys_point_at_their_field(repo):
    entry = repo.get("faq", ENTRY)
    del entry["sources"]
    entry["colour"] = "blue"
    draft = Draft(repo)
    draft.apply("faq", ENTRY, entry)
    fields = {p.field: p.message for p in draft.validate().problems}
    assert "missing 'sources'" in fields["sources"] and "unknown key 'colour'" in fields["colour"]


def test_guide_step_problem_points_at_the_step(repo):
    guide = repo.get("guide", "eid-activate")
    del guide["steps"][2]["en"]
    draft = Draft(repo)
    draft.apply("guide", "eid-activate", guide)
    problems = draft.validate().problems
    assert [(p.file, p.field) for p in problems] == [("content/guides/eid-activate.yaml", "steps.2.en")]
    assert draft.text("guides/eid-activate.yaml").splitlines()[problems[0].line - 1].lstrip().startswith("- vi:")


def test_a_file_broken_by_hand_is_a_problem_not_a_crash(repo, content_copy):
    path = content_copy / "faq/qr.yaml"
    path.write_text(path.read_text() + "\n- id: [unclosed\n")
    with pytest.raises(Invalid) as exc:
        Draft(repo).create("faq", {**NEW_ENTRY, "id": "qr-new-one", "topic": "qr"})
    [problem] = exc.value.problems
    assert problem.file == "content/faq/qr.yaml" and "YAML syntax" in problem.message and problem.line > 1


def test_id_cannot_change_and_new_ids_must_be_free(repo):
    entry = repo.get("faq", ENTRY)
    entry["id"] = "eid-renamed"
    with pytest.raises(Invalid) as exc:
        Draft(repo).apply("faq", ENTRY, entry)
    assert exc.value.problems[0].field == "id"
    with pytest.raises(Invalid) as exc:
        Draft(repo).create("faq", {**repo.get("faq", ENTRY)})
    assert "already used" in exc.value.problems[0].message
    with pytest.raises(Invalid):
        Draft(repo).create("guide", {"id": "../../etc/passwd"})


# -- create, retire, restore -----------------------------------------------------------------------------------------
NEW_ENTRY = {
    "id": "eid-dashboard-test",
    "topic": "eid",
    "questions": {
        "vi": ["Ứng dụng VNeID có mất phí duy trì hằng năm không?", "vneid co phai dong phi duy tri hang nam ko", "xai vneid co ton tien thue bao khong", "nam nao cung phai tra tien cho app vneid a"],
        "en": ["Is there a yearly fee to keep using VNeID?"],
    },
    "answer": {"vi": "Không. Dùng VNeID không mất phí duy trì.\nGọi {hotlines.vneid.number} nếu có người đòi tiền.", "en": "No. Using VNeID has no yearly fee.\nCall {hotlines.vneid.number} if someone asks you for money."},
    "sources": ["https://vneid.gov.vn"],
    "reviewed": "2026-11-30",
}


def test_create_appends_an_entry_that_the_bot_answers(repo, content_copy):
    before = (content_copy / FILE).read_text()
    draft = Draft(repo)
    draft.create("faq", copy.deepcopy(NEW_ENTRY))
    publish(draft, "alice")
    after = (content_copy / FILE).read_text()
    assert after.startswith(before.rstrip("\n") + "\n\n- id: eid-dashboard-test\n")  # one blank line, like its neighbours
    assert "\n  reviewed: 2026-11-30\n" in after and "    vi: |\n      Không." in after  # a date, a block answer
    kb = load_knowledge(content_copy)
    assert "1900 0368" in kb.faqs["eid-dashboard-test"].answer.vi  # placeholders filled by the loader
    assert repo.get("faq", "eid-dashboard-test")["answer"]["en"].startswith("No. Using VNeID")


def test_create_a_guide_file(repo, content_copy):
    guide = repo.get("guide", "eid-activate")
    guide.update(id="eid-dashboard-guide", code="ID97")
    guide["questions"] = {"vi": ["hướng dẫn thử nghiệm bảng điều khiển", "chi toi cach thu bang dieu khien"], "en": ["dashboard test guide walkthrough"]}
    draft = Draft(repo)
    draft.create("guide", guide)
    publish(draft, "alice")
    text = (content_copy / "guides/eid-dashboard-guide.yaml").read_text()
    template = sorted((content_copy / "guides").glob("*.yaml"))[0].read_text()
    title_style = next(line for line in template.splitlines() if line.startswith("title:"))[:8]
    assert text.startswith("id: eid-dashboard-guide\n") and f"\n{title_style}" in text  # styled like the other guides
    assert "eid-dashboard-guide" in load_knowledge(content_copy).guides


def test_retire_moves_the_entry_out_of_the_bot_byte_for_byte(repo, content_copy, store):
    original = (content_copy / FILE).read_text()
    s, e = entry_lines(original, ENTRY)
    entry_text = "".join(original.splitlines(keepends=True)[s:e]).rstrip("\n") + "\n"
    draft = Draft(repo)
    draft.retire("faq", ENTRY)
    published = publish(draft, "alice", store)
    kb = load_knowledge(content_copy)
    assert ENTRY not in kb.faqs and published.version == kb.version
    assert entry_text in (content_copy / RETIRED_FAQ).read_text()
    assert "\n\n\n" not in (content_copy / FILE).read_text()
    info = next(i for i in repo.entries(include_retired=True) if i.id == ENTRY)
    assert info.retired and info.review_state == "retired" and info.file == RETIRED_FAQ
    assert ENTRY not in [i.id for i in repo.entries()]
    assert [i.id for i in repo.search("muc 2", review_state="retired")] == [ENTRY]
    # one click brings it back where it was
    revert(repo, store, published.revisions[0], "bob")
    assert (content_copy / FILE).read_text() == original
    assert ENTRY in load_knowledge(content_copy).faqs and ENTRY not in (content_copy / RETIRED_FAQ).read_text()


def test_a_guide_created_retired_and_brought_back(repo, content_copy, store):
    guide = repo.get("guide", "eid-activate")
    guide.update(id="eid-dashboard-guide", code="ID97")
    guide["questions"] = {"vi": ["hướng dẫn thử nghiệm bảng điều khiển", "chi toi cach thu bang dieu khien"], "en": ["dashboard test guide walkthrough"]}
    draft = Draft(repo)
    draft.create("guide", guide)
    publish(draft, "alice", store)
    path = content_copy / "guides/eid-dashboard-guide.yaml"
    text = path.read_text()
    draft = Draft(repo)
    draft.retire("guide", "eid-dashboard-guide")
    retired = publish(draft, "alice", store)
    assert not path.exists() and (content_copy / "retired/guides/eid-dashboard-guide.yaml").read_text() == text
    assert "eid-dashboard-guide" not in retired.kb.guides
    revert(repo, store, retired.revisions[0], "bob")
    assert path.read_text() == text and not (content_copy / "retired/guides/eid-dashboard-guide.yaml").exists()
    assert "eid-dashboard-guide" in load_knowledge(content_copy).guides
    assert [(r.action, r.meta["op"]) for r in store.list(kind="guide", entry_id="eid-dashboard-guide")] == [("revert", "restore"), ("retire", "retire"), ("create", "create")]


def test_retiring_a_linked_guide_is_refused_with_the_reason(repo, content_copy):
    linked = next(f for f in load_knowledge(content_copy).faqs.values() if f.guide)
    draft = Draft(repo)
    draft.retire("guide", linked.guide)
    problems = draft.validate().problems
    assert any(f"links to guide {linked.guide!r}" in p.message for p in problems)
    with pytest.raises(Invalid):
        publish(draft, "alice")
    assert (content_copy / f"guides/{linked.guide}.yaml").exists()


# -- locality --------------------------------------------------------------------------------------------------------
def test_locality_value_edit_changes_one_line_and_every_answer_using_it(repo, content_copy):
    path = content_copy / "locality.yaml"
    before = path.read_text()
    draft = Draft(repo)
    draft.set_locality("hotlines.vneid.number", "1900 0369")
    publish(draft, "alice")
    after = path.read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert changed == [('    number: "1900 0368"', '    number: "1900 0369"')] and len(before) == len(after)
    kb = load_knowledge(content_copy)
    users = [e.id for e in repo.entries() if e.kind == "faq" and "{hotlines.vneid.number}" in str(repo.get("faq", e.id)["answer"])]
    assert users and all("1900 0369" in kb.faqs[i].answer.vi + kb.faqs[i].answer.en for i in users)


def test_locality_add_a_ward_and_a_group_with_a_bad_ward(repo, content_copy):
    wards = repo.locality()["wards"]
    groups = repo.locality()["working_groups"]
    draft = Draft(repo)
    draft.set_locality(f"wards.{len(wards)}", {"id": "hai-luu", "name": {"vi": "xã Hải Lựu", "en": "Hải Lựu commune"}})
    draft.set_locality(f"working_groups.{len(groups)}", {"id": "tdp-test-1", "name": {"vi": "Tổ thử", "en": "Test group"}, "ward": "no-such-ward", "code": "ZQ9"})
    problems = draft.validate().problems
    assert [(p.field, "unknown ward" in p.message) for p in problems] == [(f"working_groups.{len(groups)}.ward", True)]
    draft.set_locality(f"working_groups.{len(groups)}.ward", "hai-luu")
    publish(draft, "alice")
    kb = load_knowledge(content_copy)
    assert kb.working_groups["tdp-test-1"].ward == "hai-luu"
    with pytest.raises(Invalid):
        Draft(repo).set_locality("nothing.here.at.all", "x")


# -- conflicts and the lock --------------------------------------------------------------------------------------------
def test_second_editor_from_the_same_version_gets_a_conflict(repo, content_copy):
    version = repo.version()
    first, second = Draft(repo, version), Draft(repo, version)
    a = repo.get("faq", ENTRY)
    a["questions"]["en"].append("level one or level two, what is the difference")
    first.apply("faq", ENTRY, a)
    b = repo.get("faq", ENTRY)
    b["questions"]["en"].append("which VNeID level do I need")
    second.apply("faq", ENTRY, b)
    publish(first, "alice")
    with pytest.raises(Conflict) as exc:
        publish(second, "bob")
    assert exc.value.base == version and exc.value.current == repo.version() != version
    assert exc.value.to_dict()["version"] == repo.version()
    text = (content_copy / FILE).read_text()
    assert "level one or level two" in text and "which VNeID level do I need" not in text


def test_two_publishes_at_once_never_interleave(repo, content_copy):
    version = repo.version()
    drafts = []
    for n in range(2):
        entry = repo.get("faq", ENTRY)
        entry["questions"]["en"].append(f"parallel edit number {n}")
        draft = Draft(repo, version)
        draft.apply("faq", ENTRY, entry)
        drafts.append(draft)
    barrier = threading.Barrier(2)
    results = []

    def run(draft, name):
        barrier.wait()
        try:
            results.append(publish(draft, name).version)
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=run, args=(d, f"editor{n}")) for n, d in enumerate(drafts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 2 and results.count("conflict") == 1  # one published, the other refused
    assert (content_copy / FILE).read_text().count("parallel edit number") == 1


# -- history and revert ------------------------------------------------------------------------------------------------
def test_revision_history_and_one_click_revert(repo, content_copy, store):
    original = (content_copy / FILE).read_text()
    base = repo.version()
    entry = repo.get("faq", ENTRY)
    entry["questions"]["vi"].append("muc 2 co gi hon muc 1")
    draft = Draft(repo)
    draft.apply("faq", ENTRY, entry)
    published = publish(draft, "alice", store)
    [rev] = store.list(kind="faq", entry_id=ENTRY)
    assert (rev.id, rev.actor, rev.action, rev.base_version, rev.new_version) == (published.revisions[0], "alice", "edit", base, published.version)
    assert rev.diff.startswith("--- a/content/faq/eid.yaml\n+++ b/content/faq/eid.yaml\n@@ ")
    body = rev.diff.splitlines()[2:]
    assert [line for line in body if line.startswith(("+", "-"))] == ["+      - muc 2 co gi hon muc 1"]
    assert yaml.safe_load(rev.before)[0]["id"] == ENTRY and "muc 2 co gi hon muc 1" in rev.after
    assert rev.to_dict(full=False).keys() >= {"id", "ts", "actor", "diff"} and "before" not in rev.to_dict(full=False)

    reverted = revert(repo, store, rev.id, "bob")
    assert (content_copy / FILE).read_text() == original and reverted.version == base
    newest = store.get(reverted.revisions[0])
    assert (newest.actor, newest.action, newest.meta["reverts"]) == ("bob", "revert", rev.id)
    assert [r.id for r in store.list(entry_id=ENTRY)] == [newest.id, rev.id]
    # reverting the first again would undo bob's revert silently: refused
    with pytest.raises(Conflict):
        revert(repo, store, rev.id, "carol")
    # reverting the revert redoes the edit
    revert(repo, store, newest.id, "carol")
    assert "muc 2 co gi hon muc 1" in (content_copy / FILE).read_text()


def test_revert_refused_when_the_entry_changed_since(repo, store):
    entry = repo.get("faq", ENTRY)
    entry["questions"]["en"].append("first edit of the day")
    draft = Draft(repo)
    draft.apply("faq", ENTRY, entry)
    first = publish(draft, "alice", store).revisions[0]
    entry["questions"]["en"].append("second edit of the day")
    draft = Draft(repo)
    draft.apply("faq", ENTRY, entry)
    publish(draft, "bob", store)
    with pytest.raises(Conflict) as exc:
        revert(repo, store, first, "carol")
    assert "changed since" in str(exc.value)


def test_revert_of_a_create_and_of_a_locality_edit(repo, content_copy, store):
    original_faq = (content_copy / FILE).read_text()
    original_locality = (content_copy / "locality.yaml").read_text()
    draft = Draft(repo)
    draft.create("faq", copy.deepcopy(NEW_ENTRY))
    created = publish(draft, "alice", store).revisions[0]
    draft = Draft(repo)
    draft.set_locality("offices.police.name.en", "the police of your commune or ward")
    changed = publish(draft, "alice", store).revisions[0]
    assert store.get(changed).kind == "locality" and '-    name: {vi: "Công an xã/phường", en: "the commune/ward police"}' in store.get(changed).diff
    revert(repo, store, changed, "bob")
    revert(repo, store, created, "bob")
    assert (content_copy / "locality.yaml").read_text() == original_locality
    assert (content_copy / FILE).read_text() == original_faq


def test_the_history_outlives_the_store_and_is_kept_by_the_storage_migrations(repo, db_target):
    first = RevisionStore(db_target)
    entry = repo.get("faq", ENTRY)
    entry["questions"]["vi"].append("muc 2 khac muc 1 the nao")
    draft = Draft(repo)
    draft.apply("faq", ENTRY, entry)
    [rev_id] = publish(draft, "alice", first).revisions
    first.close()
    again = RevisionStore(db_target)  # a restart: the same rows, no table made twice
    try:
        rev = again.get(rev_id)
        assert (rev.actor, rev.kind, rev.entry_id, rev.action) == ("alice", "faq", ENTRY, "edit") and "+      - muc 2 khac muc 1 the nao" in rev.diff
        tables = again.db.table_names()
        assert "content_revisions" in tables and "content_schema_version" not in tables  # Alembic's version table says where it stands
    finally:
        again.close()
