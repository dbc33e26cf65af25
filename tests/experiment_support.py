"""An experiment on the local server for the experiment tests: three stored sessions as the test
cases, two variants; and the requests a client made, with their ids normalised."""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

API_KEY = "sentrial_test_key"
INPUTS = ("How do I reset my password?", "Where is my order?", "Can I change my plan?")
VARIANTS = (
    {"name": "A", "systemPrompt": "You are terse. Prompt A."},
    {"name": "B", "systemPrompt": "You are warm and detailed. Prompt B."},
)


def call(url: str, method: str, path: str, body: Any = None) -> Any:
    """One JSON request to the server with the test key; its JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"}
    request = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def seed_experiment(url: str) -> tuple[str, list[str]]:
    """Store three sessions with user inputs and an experiment on them; its id and the sessions'."""
    session_ids = []
    for number, text in enumerate(INPUTS):
        session_id = f"base-session-{number}"
        call(
            url,
            "POST",
            "/api/sdk/sessions",
            {"id": session_id, "name": "seed", "agentName": "support-agent", "userId": "u"},
        )
        call(
            url,
            "PATCH",
            f"/api/sdk/sessions/{session_id}",
            {"status": "completed", "success": True, "userInput": text},
        )
        session_ids.append(session_id)
    body = {"name": "prompt A/B", "variants": list(VARIANTS), "sessionIds": session_ids}
    experiment = call(url, "POST", "/api/experiments", body)["experiment"]
    return experiment["id"], session_ids


def normalised(
    requests: list[dict[str, Any]], experiment_id: str, session_ids: list[str]
) -> list[dict[str, Any]]:
    """The experiment requests (method, path, body) with the experiment's id as EXP, run ids as RUN
    and the test cases' session ids as S0, S1, ..."""
    names = {session_id: f"S{number}" for number, session_id in enumerate(session_ids)}
    taken = []
    for request in requests:
        path = request["path"].replace(experiment_id, "EXP")
        if not path.startswith("/api/experiments/"):
            continue
        path = re.sub(r"/runs/[^/]+$", "/runs/RUN", path)
        body = request["json"]
        if isinstance(body, dict):
            body = {
                key: names.get(value, value) if isinstance(value, str) else value
                for key, value in body.items()
            }
        taken.append({"method": request["method"], "path": path, "json": body})
    return taken
