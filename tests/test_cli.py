"""The ``sentrial`` command as users run it: the real entry point, in a subprocess."""

from __future__ import annotations

import importlib.metadata
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from cli_runner import running_sentrial, sentrial_command

import sentrial
from sentrial.server import LocalServer


def assert_one_line_error(result: subprocess.CompletedProcess[str], command: str, start: str) -> str:
    """The command failed with exit code 1 and a single stderr line ``sentrial COMMAND: start...``."""
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"sentrial {command}: {start}"), lines[0]
    return lines[0]


def test_serve_until_ctrl_c(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    with running_sentrial("serve", "--port", "0", "--db", str(db)) as serve:
        url = serve.line_starting("Sentrial local server on ").split()[4]
        body = {"name": "n", "agentName": "a", "userId": "u"}
        assert requests.post(f"{url}/api/sdk/sessions", json=body, timeout=5).status_code == 200
        status, err = serve.interrupt()
    assert (status, err) == (130, "sentrial serve: interrupted\n")
    with LocalServer(db=str(db)) as srv:
        assert [s["name"] for s in srv.sessions()] == ["n"]


def test_serve_with_a_key_shows_its_pages_only_to_who_has_it(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    with running_sentrial("serve", "--port", "0", "--db", str(db), "--api-key", "k-123") as serve:
        url = serve.line_starting("Sentrial local server on ").split()[4]
        headers = {"Authorization": "Bearer k-123"}
        body = {"name": "private-run", "agentName": "a", "userId": "u"}
        assert requests.post(f"{url}/api/sdk/sessions", json=body, headers=headers, timeout=5).ok
        refused = requests.get(f"{url}/", timeout=5)
        assert refused.status_code == 401 and "private-run" not in refused.text
        assert "private-run" in requests.get(f"{url}/", headers=headers, timeout=5).text
        with requests.Session() as browser:
            assert "private-run" in browser.post(f"{url}/", data={"key": "k-123"}, timeout=5).text
        status, err = serve.interrupt()
    assert (status, err) == (130, "sentrial serve: interrupted\n")


@pytest.mark.parametrize("command", ["serve", "demo"])
@pytest.mark.parametrize("port", ["99999", "-5"])
def test_a_port_out_of_range_is_one_line_naming_host_and_port(
    command: str, port: str, tmp_path: Path
) -> None:
    result = sentrial_command(command, "--port", port, "--db", str(tmp_path / "sessions.db"))
    expected = f"cannot listen on 127.0.0.1:{port}: the port must be between 0 and 65535"
    assert assert_one_line_error(result, command, expected) == f"sentrial {command}: {expected}"
    assert list(tmp_path.iterdir()) == []  # no database file left behind


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_port_in_use_is_one_line_naming_host_and_port(command: str, tmp_path: Path) -> None:
    with LocalServer() as other:
        port = urlsplit(other.url).port
        result = sentrial_command(command, "--port", str(port), "--db", str(tmp_path / "sessions.db"))
    line = assert_one_line_error(result, command, f"cannot listen on 127.0.0.1:{port}: ")
    assert len(line) > len(f"sentrial {command}: cannot listen on 127.0.0.1:{port}: ")  # and why
    assert list(tmp_path.iterdir()) == []


def test_serve_names_the_database_file_it_cannot_use(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n" * 100)
    result = sentrial_command("serve", "--port", "0", "--db", str(notes))
    assert_one_line_error(result, "serve", f"database {notes}: ")
    missing = tmp_path / "no such folder" / "sessions.db"
    result = sentrial_command("serve", "--port", "0", "--db", str(missing))
    assert_one_line_error(result, "serve", f"database {missing}: ")


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_an_unknown_option_shows_the_usage_of_the_command(command: str) -> None:
    result = sentrial_command(command, "--bogus")
    assert result.returncode == 2
    assert result.stderr.startswith(f"usage: sentrial {command} [-h] ")
    assert "--port PORT" in result.stderr and "--db FILE" in result.stderr
    assert result.stderr.splitlines()[-1] == f"sentrial {command}: error: unrecognized arguments: --bogus"


def test_version() -> None:
    result = sentrial_command("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"sentrial {importlib.metadata.version('sentrial')}\n"
    assert sentrial.__version__ == importlib.metadata.version("sentrial")


def test_serve_help_says_how_the_key_protects_the_pages() -> None:
    result = sentrial_command("serve", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "'Authorization: Bearer KEY'" in text and "the pages ask for it in a sign-in form" in text


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1) to listen on")
def test_serve_on_an_ipv6_address_takes_what_a_client_sends(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    with running_sentrial("serve", "--host", "::1", "--port", "0", "--db", str(db)) as serve:
        url = serve.line_starting("Sentrial local server on ").split()[4]
        assert urlsplit(url).netloc.startswith("[::1]:")
        client = sentrial.SentrialClient(api_url=url, fail_silently=False)
        try:
            session_id = client.create_session(name="over-ipv6", agent_name="a", user_id="u")
            client.complete_session(session_id)
            assert client.flush(timeout=10)
        finally:
            client.shutdown(timeout=5)
        serve.interrupt()
    with LocalServer(db=str(db)) as srv:
        assert [(s["name"], s["status"]) for s in srv.sessions()] == [("over-ipv6", "completed")]
