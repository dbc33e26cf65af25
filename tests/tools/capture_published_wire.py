"""Store what the published package sends for tests/tools/wire_script.py, as test data.

Run by hand from the repository's root with this repository's virtualenv, naming an interpreter
that has the published package, the provider libraries and the frameworks of the integration
sections installed (``pip install sentrial==0.6.0 openai anthropic google-generativeai
langchain-openai claude-agent-sdk`` in a scratch virtualenv, at the versions of
requirements-dev.lock: the Claude Code CLI's tool list is part of the payloads)::

    .venv/bin/python tests/tools/capture_published_wire.py SCRATCH_VENV/bin/python \\
        > tests/data/published_wire.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: the fakes and wire_support

from wire_support import run_script

if __name__ == "__main__":
    json.dump(run_script(sys.argv[1], sys.argv[2:] or None), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
