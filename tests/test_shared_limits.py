"""Rate limits and the login lockout counted in the shared database (bot/shared_limits.py): two workers,
each with its own connection, give a flooder or a guesser one budget, not two."""

from bot.secrets_guard import LIMIT
from bot.shared_limits import SharedCounters, SharedRateLimiter, SharedSecretThrottle


def two_workers(db_target):
    return SharedCounters(db_target, "salt"), SharedCounters(db_target, "salt")


def test_a_sessions_messages_share_one_budget_across_workers(db_target):
    a, b = two_workers(db_target)
    try:
        limits = [SharedRateLimiter(c, "web:typed", rate=12, per=30.0) for c in (a, b)]
        now = 1_800_000_000.0  # the start of a window: the previous one is empty
        allowed = [limits[i % 2].allow("session-x", now + i * 0.01) for i in range(20)]
        assert allowed == [True] * 12 + [False] * 8
        assert limits[1].allow("session-y", now)  # another session has its own budget
        # a window later, the budget is back, counted from both workers' rows
        assert limits[0].allow("session-x", now + 61.0)
    finally:
        a.close()
        b.close()


def test_wrong_passwords_on_two_workers_add_up_to_one_lockout(db_target):
    a, b = two_workers(db_target)
    try:
        throttles = [SharedSecretThrottle(c) for c in (a, b)]
        now = 1_800_000_000.0
        locked = [throttles[i % 2].failed("203.0.113.7", now + i) for i in range(LIMIT)]
        assert locked[:-1] == [0] * (LIMIT - 1) and locked[-1] > 0
        # the other worker refuses the address too, even the right password
        assert throttles[0].retry_after("203.0.113.7", now + LIMIT) > 0
        assert throttles[1].retry_after("203.0.113.7", now + LIMIT) > 0
        assert throttles[1].retry_after("198.51.100.2", now + LIMIT) == 0  # an official elsewhere is not
        throttles[0].succeeded("198.51.100.2")
        # no address is stored in clear
        stored = [k for (k,) in a.db.execute("select key from secret_failures").fetchall()]
        assert stored and all("203.0.113" not in k for k in stored)
    finally:
        a.close()
        b.close()
