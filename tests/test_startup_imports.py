"""Start-up: our instrumentors import no provider library until the app does (issue: seconds per
library under ``opentelemetry-instrument``, and google.generativeai's deprecation warning).

Each check runs in a fresh interpreter, so that nothing the test process imported counts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

PROVIDER_LIBRARIES = (
    "openai",
    "anthropic",
    "google.genai",
    "google.generativeai",
    "google.protobuf",
    "langchain_core",
    "claude_agent_sdk",
)

# Loads and applies every instrumentor our package registers, then reports the provider libraries
# imported; then imports anthropic as an app would and reports whether it got patched.
PROBE = textwrap.dedent(
    f"""
    import json, sys
    from importlib.metadata import entry_points

    if "--instrument" in sys.argv:
        import sentrial.distro
        for entry_point in entry_points(group="opentelemetry_instrumentor"):
            if entry_point.name.startswith("sentrial_"):
                entry_point.load()().instrument()
    loaded = [name for name in {PROVIDER_LIBRARIES!r} if name in sys.modules]
    import anthropic
    from anthropic.resources.messages import Messages
    print(json.dumps({{"loaded": loaded, "patched": hasattr(Messages.create, "__wrapped__")}}))
    """
)


def probe(command: list[str]) -> tuple[dict[str, object], str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SENTRIAL_"))}
    env = {**clean, "OTEL_PYTHON_DISTRO": "sentrial", "OTEL_PYTHON_CONFIGURATOR": "sentrial"}
    env["OTEL_TRACES_EXPORTER"] = "none"
    # Other packages' instrumentors (the dev extra has OpenInference's, which imports openai) are
    # not ours to judge: only ours load.
    others = [
        e.name for e in entry_points(group="opentelemetry_instrumentor") if not e.name.startswith("sentrial_")
    ]
    env["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = ",".join(others)
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    report: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return report, result.stderr


def test_our_instrumentors_import_no_provider_library(tmp_path: Path) -> None:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    report, stderr = probe([sys.executable, "-W", "default", str(script), "--instrument"])
    assert report == {"loaded": [], "patched": True}
    assert "Warning" not in stderr


def test_opentelemetry_instrument_imports_no_provider_library(tmp_path: Path) -> None:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    launcher = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    assert launcher is not None, "opentelemetry-instrument is installed with the SDK"
    report, stderr = probe([launcher, sys.executable, "-W", "default", str(script)])
    assert report == {"loaded": [], "patched": True}
    assert "Warning" not in stderr
