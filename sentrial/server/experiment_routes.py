"""The local server's experiments: the endpoints of sessions-api.md ("Experiments"), the endpoint
that creates an experiment from stored sessions, and the pages that compare the variants."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sentrial.server import experiments
from sentrial.server.validate import ApiError

if TYPE_CHECKING:
    from sentrial.server.handler import Request, Response


def _json(status: int, value: Any) -> Response:
    from sentrial.server.handler import json_response  # the handler imports this module

    return json_response(status, value)


def _html(status: int, text: str) -> Response:
    from sentrial.server.handler import html_response

    return html_response(status, text)


def _create(req: Request) -> Response:
    return _json(200, {"experiment": experiments.create(req.state.store, req.body())})


def _list(req: Request) -> Response:
    return _json(200, {"experiments": experiments.every(req.state.store)})


def _definition(req: Request) -> Response:
    definition = experiments.get(req.state.store, req.params["id"])
    if definition is None:
        raise ApiError(404, f"unknown experiment '{req.params['id']}'")
    return _json(200, {"experiment": definition, "runs": experiments.runs(req.state.store, req.params["id"])})


def _open_run(req: Request) -> Response:
    return _json(200, {"run": experiments.open_run(req.state.store, req.params["id"], req.body())})


def _complete_run(req: Request) -> Response:
    run = experiments.complete_run(req.state.store, req.params["id"], req.params["run"], req.body())
    return _json(200, {"run": run})


def _reset(req: Request) -> Response:
    return _json(200, {"deleted": experiments.reset(req.state.store, req.params["id"])})


def _results(req: Request) -> Response:
    return _json(200, experiments.results(req.state.store, req.params["id"]))


# --- pages -----------------------------------------------------------------------------------
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse}"
    "th,td{border-bottom:1px solid #ddd;padding:.3rem .7rem;text-align:left}.winner{font-weight:bold}"
    ".failed{color:#b00020}.completed{color:#1b6e20}"
)


def _document(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def _cell(value: Any, form: str = "{}") -> str:
    return "—" if value is None else escape(form.format(value))


def _href(experiment_id: str) -> str:
    return escape("/experiments/" + quote(experiment_id, safe=""))


def _list_page(req: Request) -> Response:
    rows = "".join(
        f'<tr><td><a href="{_href(each["id"])}">{escape(each["name"])}</a></td>'
        f"<td>{escape(each['status'])}</td>"
        f"<td>{len(each['variants'])}</td><td>{len(each['testCases'])}</td></tr>"
        for each in experiments.every(req.state.store)
    )
    table = "<tr><th>Experiment</th><th>Status</th><th>Variants</th><th>Test cases</th></tr>" + rows
    body = f'<p><a href="/">Sessions</a></p><h1>Experiments</h1><table>{table}</table>'
    return _html(200, _document("Experiments", body))


def _experiment_page(req: Request) -> Response:
    store, experiment_id = req.state.store, req.params["id"]
    definition = experiments.get(store, experiment_id)
    if definition is None:
        return _html(404, _document("Not found", f"<h1>No experiment {escape(experiment_id)}</h1>"))
    results = experiments.results(store, experiment_id)
    comparison = "".join(
        f'<tr class="{"winner" if each["variantName"] == results["winner"] else ""}">'
        f"<td>{escape(each['variantName'])}</td><td>{each['runs']}</td>"
        f"<td>{_cell(each['successRate'], '{:.0%}')}</td><td>{_cell(each['meanCost'], '${:.4f}')}</td>"
        f"<td>{_cell(each['meanTokens'], '{:.0f}')}</td>"
        f"<td>{_cell(each['meanDurationMs'], '{:.0f} ms')}</td></tr>"
        for each in results["variants"]
    )
    runs = "".join(
        f"<tr><td>{escape(run['variantName'])}</td><td>{escape(run['baseSessionId'])}</td>"
        f'<td class="{escape(run["status"])}">{escape(run["status"])}</td>'
        f"<td>{_session_link(run['resultSessionId'])}</td><td>{_cell(run['errorMessage'])}</td></tr>"
        for run in experiments.runs(store, experiment_id)
    )
    body = (
        f'<p><a href="/experiments">Experiments</a></p><h1>{escape(definition["name"])}</h1>'
        f"<p>Status: {escape(definition['status'])}. Winner: {_cell(results['winner'])}</p>"
        "<h2>Variants</h2><table><tr><th>Variant</th><th>Runs</th><th>Success rate</th><th>Mean cost</th>"
        f"<th>Mean tokens</th><th>Mean duration</th></tr>{comparison}</table>"
        "<h2>Runs</h2><table><tr><th>Variant</th><th>Test case</th><th>Status</th><th>Session</th>"
        f"<th>Error</th></tr>{runs}</table>"
    )
    return _html(200, _document(definition["name"], body))


def _session_link(session_id: str | None) -> str:
    if session_id is None:
        return "—"
    return f'<a href="{escape("/sessions/" + quote(session_id, safe=""))}">{escape(session_id)}</a>'


_Endpoint = Callable[["Request"], "Response"]
ROUTES: list[tuple[re.Pattern[str], dict[str, _Endpoint]]] = [
    (re.compile(r"/api/experiments"), {"GET": _list, "POST": _create}),
    (
        re.compile(r"/api/experiments/(?P<id>[^/]+)/runs"),
        {"GET": _definition, "POST": _open_run, "DELETE": _reset},
    ),
    (re.compile(r"/api/experiments/(?P<id>[^/]+)/runs/(?P<run>[^/]+)"), {"PATCH": _complete_run}),
    (re.compile(r"/api/experiments/(?P<id>[^/]+)/results"), {"GET": _results}),
    (re.compile(r"/experiments"), {"GET": _list_page}),
    (re.compile(r"/experiments/(?P<id>[^/]+)"), {"GET": _experiment_page}),
]
"""The experiments' routes, in the handler's form: a path pattern and an endpoint per method."""
