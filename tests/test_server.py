"""The server as an operator runs it: health, hot reload (signal and admin call), graceful shutdown,
refusal to start on bad content, and no secrets in what it prints."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


class Server:
    def __init__(self, tmp_path, content, extra_env=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DIGIGUIDE_PORT": str(self.port),
            "DIGIGUIDE_DB": str(tmp_path / "data" / "bot.db"),
            "DIGIGUIDE_CONTENT": str(content),
            "DIGIGUIDE_DASHBOARD_TOKEN": "admin-token-for-tests",
            "TELEGRAM_BOT_TOKEN": "",
            **(extra_env or {}),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def wait_healthy(self, timeout=20.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.proc.stderr.read()}")
            try:
                status, body = get_json(self.base + "/healthz")
                if status == 200:
                    return body
            except OSError:
                time.sleep(0.1)
        raise AssertionError("server did not become healthy")

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, out, err


def break_content(content: Path):
    faq = content / "faq" / "qr.yaml"
    faq.write_text(faq.read_text(encoding="utf-8").replace("  topic: qr\n", "  topic: banking\n", 1), encoding="utf-8")


def test_health_reload_and_graceful_shutdown(tmp_path, content_copy):
    server = Server(tmp_path, content_copy)
    try:
        health = server.wait_healthy()
        assert health["status"] == "ok" and health["faq_entries"] >= 70
        version = health["content_version"]

        # An invalid content set is rejected by SIGHUP and by the admin call; the old one stays.
        break_content(content_copy)
        server.proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert server.wait_healthy()["content_version"] == version
        status, body = get_json(server.base + "/admin/reload", b"", {"Authorization": "Bearer admin-token-for-tests"})
        assert status == 422 and "unknown topic 'banking'" in body["message"] and body["content_version"] == version

        # The admin call needs the token.
        assert get_json(server.base + "/admin/reload", b"")[0] == 403
        assert get_json(server.base + "/admin/reload", b"", {"Authorization": "Bearer wrong"})[0] == 403

        # A valid edit replaces the content without a restart.
        faq = content_copy / "faq" / "qr.yaml"
        faq.write_text(faq.read_text(encoding="utf-8").replace("  topic: banking\n", "  topic: qr\n", 1), encoding="utf-8")
        eid = content_copy / "faq" / "eid.yaml"
        eid.write_text(eid.read_text(encoding="utf-8").replace(
            "Cài VNeID từ App Store hoặc CH Play.", "Cài ứng dụng VNeID từ App Store hoặc CH Play.", 1), encoding="utf-8")
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while server.wait_healthy()["content_version"] == version and time.time() < deadline:
            time.sleep(0.2)
        assert server.wait_healthy()["content_version"] != version
    finally:
        code, out, err = server.stop()
    assert code == 0, err
    assert "stopped cleanly" in err
    assert "content reload rejected" in err and "content reloaded" in err
    assert "admin-token-for-tests" not in out + err


def test_startup_logs_channels_and_how_to_enable_them_without_secrets(tmp_path, content_copy):
    server = Server(tmp_path, content_copy, {"DIGIGUIDE_DASHBOARD_TOKEN": ""})
    try:
        server.wait_healthy()
    finally:
        code, out, err = server.stop(signal.SIGINT)
    assert code == 0
    assert "channel web" in err and "channel telegram off: set TELEGRAM_BOT_TOKEN" in err
    token_line = [line for line in out.splitlines() if line.startswith("Admin token for this run")]
    assert len(token_line) == 1  # printed once, to the terminal
    token = token_line[0].rsplit(" ", 1)[1]
    assert token not in err  # never in the log


def test_server_refuses_to_start_on_bad_content(tmp_path, content_copy):
    break_content(content_copy)
    server = Server(tmp_path, content_copy)
    code = server.proc.wait(timeout=30)
    err = server.proc.stderr.read()
    assert code == 1 and "unknown topic 'banking'" in err and "not starting" in err


def test_settings_come_from_dotenv_and_environment_wins(tmp_path):
    from bot.config import Settings, SettingsError

    (tmp_path / ".env").write_text("DIGIGUIDE_PORT=9123\nDIGIGUIDE_HOST=0.0.0.0\nTELEGRAM_BOT_TOKEN=1:t0ps3cr3tvalue\n")
    s = Settings.load(env={"DIGIGUIDE_HOST": "127.0.0.2", "DIGIGUIDE_DB": str(tmp_path / "d" / "x.db")}, env_file=tmp_path / ".env")
    assert (s.port, s.host, s.telegram_token) == (9123, "127.0.0.2", "1:t0ps3cr3tvalue")
    assert s.salt and (tmp_path / "d" / "salt").exists()  # generated once and kept
    assert Settings.load(env={"DIGIGUIDE_DB": str(tmp_path / "d" / "x.db")}, env_file=None).salt == s.salt
    assert s.describe()["telegram_token"] == "set" and "t0ps3cr3t" not in json.dumps(s.describe())
    with pytest.raises(SettingsError):
        Settings.load(env={"DIGIGUIDE_PORT": "eighty"}, env_file=None)


def test_a_port_in_use_is_said_in_one_line_before_anything_starts(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        server = Server(tmp_path, ROOT / "content", {"DIGIGUIDE_PORT": str(port), "DIGIGUIDE_DASHBOARD_TOKEN": ""})
        out, err = server.proc.communicate(timeout=60)
    assert server.proc.returncode == 1
    assert err.splitlines() == [f"port {port} is in use on 127.0.0.1: stop the other program or set DIGIGUIDE_PORT"]
    assert "Traceback" not in err and "live" not in out + err and "Admin token" not in out  # nothing started


def test_an_oversized_header_is_one_short_log_line_not_a_traceback(tmp_path):
    """A 10 KB header line (aiohttp's limit is 8190 bytes) is refused with 400, logged as one line each."""
    server = Server(tmp_path, ROOT / "content")
    try:
        server.wait_healthy()
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
                conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 10_240 + b"\r\n\r\n")
                assert conn.recv(32).split(b" ")[1] == b"400"
        assert server.wait_healthy()["status"] == "ok"
    finally:
        code, _out, err = server.stop()
    assert code == 0, err
    refused = [line for line in err.splitlines() if "malformed HTTP request" in line]
    assert len(refused) == 3 and all(len(line) < 300 and " WARNING " in line for line in refused), refused
    assert "Traceback" not in err and " ERROR " not in err, err
