"""One chat cannot slow down the others (issue 10, section 4): a quiet citizen's reply latency while another
chat floods, on every channel, beside a baseline with no flood measured in the same run.

`python -m bot serve` runs in a subprocess, as in production, with Telegram pointed at the loopback fake Bot
API of tests/fake_telegram.py and Zalo at tests/fake_zalo.py (both run in this process, so one clock times
the whole path). Two servers: one with the web chat, Telegram by webhook and Zalo by webhook; one with
Telegram by polling (PTB's Updater long-polls the fake). Zalo is measured by webhook only: its getUpdates
hands over one update per call, so a polled flood is throttled by the platform before it reaches us.

For each channel, two phases of PHASE seconds:
  alone  quiet citizens take turns sending a question every QUIET_EVERY seconds (several citizens, so none
         of them is over the per-citizen flood budget: they are the "others" whose service must not suffer);
  flood  the same, while one more chat sends FLOOD_RATE messages a second the whole time.
Every send to a fake (and Zalo's typing action) takes PLATFORM_LATENCY seconds, as on the real platforms: a
loopback fake answering at once drains any backlog before it can hold anyone up. Latency = from the quiet
citizen's message being offered (queued for getUpdates, or its webhook POST or web request starting) to its
reply reaching the fake platform (for the web: the HTTP answer). A reply that has not come DRAIN seconds
after the phase is counted as lost. About 50 s in all.

    .venv/bin/python bench/bench_flood.py [--phase 4] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import aiohttp  # noqa: E402

from fake_telegram import FakeTelegram  # noqa: E402
from fake_zalo import FakeZalo  # noqa: E402

TELEGRAM_TOKEN, ZALO_TOKEN = "123:BENCH", "zt-bench"
TELEGRAM_SECRET, ZALO_SECRET = "bench-telegram-secret", "bench-zalo-secret"
QUIET_EVERY = 0.15  # seconds between two quiet messages (all quiet citizens together)
QUIET_CITIZENS = 8  # each sends one message every 1.2 s: well inside the per-citizen budget
FLOOD_RATE = 200  # messages a second from the flooding chat, for the whole phase
TICK = 0.05  # the flood is offered in batches this often
PLATFORM_LATENCY = 0.1  # seconds a fake takes to answer a send: loopback answers at once, Telegram and Zalo do not
DRAIN = 20.0  # seconds after the phase to wait for the last quiet replies
QUIET_TEXT = "quen mat khau vneid"  # an FAQ answer: one message, through the matcher
FLOOD_TEXT = "cach thanh toan tien dien"
_IN_FLIGHT: set[asyncio.Task[Any]] = set()  # requests offered and not answered yet (awaited before exit)


@dataclass(frozen=True)
class Figures:
    channel: str
    phase: str  # "alone" or "flood"
    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    lost: int
    flood_offered: int


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: with few samples p99 is the worst one, which is what a citizen notices."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def figures(channel: str, phase: str, latencies: list[float], expected: int, flood_offered: int) -> Figures:
    ms = [s * 1000 for s in latencies] or [float("nan")]
    return Figures(channel, phase, len(latencies), round(statistics.median(ms), 1), round(percentile(ms, 0.99), 1), round(max(ms), 1), expected - len(latencies), flood_offered)


# -- the server under test -----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """`python -m bot serve` on a free port with a throwaway database, its log kept for a failure."""

    def __init__(self, tmp: Path, name: str, env: dict[str, str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(tmp / f"{name}.log", "w+", encoding="utf-8")
        # Only our settings: none inherited from this shell, and the ones given override a .env in the checkout.
        base = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "ZALO_", "DIGIGUIDE_"))}
        env = {**base, "DIGIGUIDE_DB": str(tmp / f"{name}.db"), "DIGIGUIDE_PORT": str(self.port), "DIGIGUIDE_SALT": "bench", "DIGIGUIDE_DASHBOARD_TOKEN": "bench-token", **env}
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=self.log)

    async def ready(self, session: aiohttp.ClientSession, channels: dict[str, str], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                async with session.get(self.url + "/healthz") as response:
                    live = (await response.json())["channels"]
                    if all(live.get(k) == v for k, v in channels.items()):
                        return
            except (aiohttp.ClientError, ValueError):
                pass
            await asyncio.sleep(0.1)
        self.log.seek(0)
        raise RuntimeError(f"server did not come up with {channels}:\n{self.log.read()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


# -- channels: how to offer a message and when its reply came -------------------------------------------------
class Channel:
    """One way of talking to the server. `offer(chat, text)` returns when the message was offered; replies
    are read from the fake's call log (k-th reply to a chat = answer to its k-th message)."""

    name = ""

    def chat(self, n: int) -> str:
        return str(n)

    async def offer(self, chat: str, text: str) -> float:
        raise NotImplementedError

    def mark(self) -> int:
        return 0

    def replies(self, chat: str, since: int) -> list[float]:
        raise NotImplementedError


class TelegramPolling(Channel):
    name = "telegram (polling)"

    def __init__(self, fake: FakeTelegram):
        self.fake = fake

    def chat(self, n: int) -> str:
        self.fake.private_chat(n)
        return str(n)

    async def offer(self, chat: str, text: str) -> float:
        now = time.monotonic()
        self.fake.queue(self.fake.text_update(text, user_id=int(chat)))
        return now

    def mark(self) -> int:
        return self.fake.mark()

    def replies(self, chat: str, since: int) -> list[float]:
        return [c.at for c in self.fake.calls_to("sendMessage", since) if c.ok and str(c.params.get("chat_id")) == chat]


class TelegramWebhook(TelegramPolling):
    name = "telegram (webhook)"

    def __init__(self, fake: FakeTelegram, session: aiohttp.ClientSession, url: str):
        super().__init__(fake)
        self.session, self.url = session, url + "/telegram/webhook"

    async def offer(self, chat: str, text: str) -> float:
        update = self.fake.text_update(text, user_id=int(chat))
        now = time.monotonic()
        background(post(self.session, self.url, update, {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}))
        return now


class ZaloWebhook(Channel):
    name = "zalo (webhook)"

    def __init__(self, fake: FakeZalo, session: aiohttp.ClientSession, url: str):
        self.fake, self.session, self.url = fake, session, url + "/zalo/webhook"

    def chat(self, n: int) -> str:
        return self.fake.know_chat(f"{n:020x}")

    async def offer(self, chat: str, text: str) -> float:
        update = self.fake.text_update(text, user_id=chat)
        now = time.monotonic()
        background(post(self.session, self.url, update, {"X-Bot-Api-Secret-Token": ZALO_SECRET}))
        return now

    def mark(self) -> int:
        return self.fake.mark()

    def replies(self, chat: str, since: int) -> list[float]:
        return [c.at for c in self.fake.calls_to("sendMessage", since) if c.ok and c.params.get("chat_id") == chat]


class WebChat(Channel):
    """The reply is the HTTP answer itself; a session is a chat."""

    name = "web chat"

    def __init__(self, session: aiohttp.ClientSession, url: str):
        self.session, self.url = session, url + "/api/chat"
        self._answers: dict[str, list[float]] = {}

    def chat(self, n: int) -> str:
        return f"bench-session-{n}"

    async def offer(self, chat: str, text: str) -> float:
        now = time.monotonic()
        background(self._ask(chat, text))
        return now

    async def _ask(self, chat: str, text: str) -> None:
        status = await post(self.session, self.url, {"session": chat, "text": text}, {})
        if status == 200:
            self._answers.setdefault(chat, []).append(time.monotonic())

    def replies(self, chat: str, since: int) -> list[float]:
        return list(self._answers.get(chat, []))


def background(coro: Awaitable[Any]) -> None:
    task = asyncio.ensure_future(coro)
    _IN_FLIGHT.add(task)
    task.add_done_callback(_IN_FLIGHT.discard)


async def post(session: aiohttp.ClientSession, url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
    try:
        async with session.post(url, data=json.dumps(body, ensure_ascii=False).encode(), headers={"Content-Type": "application/json", **headers}) as response:
            await response.read()
            return response.status
    except aiohttp.ClientError:
        return 0


# -- one phase -----------------------------------------------------------------------------------------------
async def every(period: float, duration: float, action: Callable[[int], Awaitable[None]]) -> int:
    """Call action(i) at start + i*period for `duration` seconds (late ticks are not made up); return how many."""
    start, i = time.monotonic(), 0
    while (due := start + i * period) < start + duration:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        await action(i)
        i += 1
    return i


async def phase(channel: Channel, label: str, first_id: int, duration: float, flood: bool) -> Figures:
    quiet = [channel.chat(first_id + k) for k in range(QUIET_CITIZENS)]
    flooder = channel.chat(first_id + 100)
    mark = channel.mark()
    offered: dict[str, list[float]] = {c: [] for c in quiet}
    flood_count = 0

    async def quiet_message(i: int) -> None:
        chat = quiet[i % len(quiet)]
        offered[chat].append(await channel.offer(chat, QUIET_TEXT))

    async def flood_batch(_i: int) -> None:
        nonlocal flood_count
        for _ in range(round(FLOOD_RATE * TICK)):
            await channel.offer(flooder, FLOOD_TEXT)
            flood_count += 1

    jobs = [every(QUIET_EVERY, duration, quiet_message)]
    if flood:
        jobs.append(every(TICK, duration, flood_batch))
    await asyncio.gather(*jobs)
    expected = sum(len(times) for times in offered.values())
    deadline = time.monotonic() + DRAIN
    while time.monotonic() < deadline and sum(min(len(channel.replies(c, mark)), len(offered[c])) for c in quiet) < expected:
        await asyncio.sleep(0.05)
    latencies = [reply - sent for c in quiet for sent, reply in zip(offered[c], channel.replies(c, mark))]
    return figures(channel.name, label, latencies, expected, flood_count)


async def measure(channel: Channel, duration: float, first_id: int) -> list[Figures]:
    alone = await phase(channel, "alone", first_id, duration, flood=False)
    await asyncio.sleep(0.5)
    flooded = await phase(channel, "flood", first_id + 1000, duration, flood=True)
    await asyncio.sleep(1.0)  # let the flood's tail drain before the next channel
    return [alone, flooded]


async def slowed(fake: FakeTelegram | FakeZalo) -> Any:
    """Started, answering sends after PLATFORM_LATENCY: with instant sends one chat's backlog drains too fast
    to hold anything up, which is not what a citizen on the real platform sees."""
    for method in ("sendMessage", "editMessageText", "sendChatAction"):
        fake.slow(method, PLATFORM_LATENCY)
    return await fake.start()


# -- the run -------------------------------------------------------------------------------------------------
async def run(duration: float) -> list[Figures]:
    results: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="digiguide-flood-") as tmp_dir:
        tmp = Path(tmp_dir)
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
            tg_hook, zalo = await slowed(FakeTelegram(TELEGRAM_TOKEN)), await slowed(FakeZalo(ZALO_TOKEN))
            server = ServeProcess(tmp, "webhooks", {
                "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN, "TELEGRAM_API_BASE": tg_hook.api_base,
                "TELEGRAM_WEBHOOK_URL": "https://digiguide.example/telegram/webhook", "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
                "ZALO_BOT_TOKEN": ZALO_TOKEN, "ZALO_API_BASE": zalo.api_base,
                "ZALO_WEBHOOK_URL": "https://digiguide.example/zalo/webhook", "ZALO_WEBHOOK_SECRET": ZALO_SECRET,
            })
            try:
                await server.ready(session, {"telegram": "webhook", "zalo": "webhook", "web": "page"})
                results += await measure(WebChat(session, server.url), duration, 10_000)
                results += await measure(TelegramWebhook(tg_hook, session, server.url), duration, 20_000)
                results += await measure(ZaloWebhook(zalo, session, server.url), duration, 30_000)
            finally:
                await asyncio.gather(*_IN_FLIGHT, return_exceptions=True)
                server.stop()
                await tg_hook.close()
                await zalo.close()
            tg_poll = await slowed(FakeTelegram(TELEGRAM_TOKEN))
            server = ServeProcess(tmp, "polling", {"TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN, "TELEGRAM_API_BASE": tg_poll.api_base, "TELEGRAM_WEBHOOK_URL": "", "ZALO_BOT_TOKEN": ""})
            try:
                await server.ready(session, {"telegram": "polling"})
                results += await measure(TelegramPolling(tg_poll), duration, 40_000)
            finally:
                server.stop()
                await tg_poll.close()
    return results


def table(results: list[Figures]) -> str:
    lines = [f"  {'channel':<20} {'phase':<6} {'replies':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'lost':>5} {'flood msgs':>11}"]
    for f in results:
        lines.append(f"  {f.channel:<20} {f.phase:<6} {f.samples:>8} {f.p50_ms:>8.1f} {f.p99_ms:>8.1f} {f.max_ms:>8.1f} {f.lost:>5} {f.flood_offered:>11}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--phase", type=float, default=4.0, help="seconds per phase (alone, then flood)")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args, _others = parser.parse_known_args()  # run_all.py passes every bench the same arguments
    started = time.monotonic()
    results = asyncio.run(run(args.phase))
    print(f"A quiet citizen's reply latency, alone and while one other chat sends {FLOOD_RATE} messages/s "
          f"({QUIET_CITIZENS} quiet citizens, one message every {QUIET_EVERY * 1000:.0f} ms between them, {args.phase:.0f} s per phase)")
    print(table(results))
    print(f"  ({time.monotonic() - started:.0f} s in all)")
    if args.json:
        settings = {"phase_s": args.phase, "quiet_every_s": QUIET_EVERY, "quiet_citizens": QUIET_CITIZENS, "flood_rate": FLOOD_RATE}
        args.json.write_text(json.dumps({"bench": "flood", "settings": settings, "results": [asdict(f) for f in results]}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
