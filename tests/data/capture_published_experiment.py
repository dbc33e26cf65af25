"""Take tests/data/published_experiment_requests.json: the requests the published ``sentrial``
package makes for one experiment, recorded by the local server.

Run with this project's interpreter, giving the interpreter of an environment where the published
package is installed: ``python tests/data/capture_published_experiment.py PUBLISHED_PYTHON``.
The same client calls are made by tests/test_experiments.py with this SDK (see ``CLIENT_CALLS``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from experiment_support import API_KEY, normalised, seed_experiment

from sentrial.server import LocalServer

# The client calls, the same for both packages: the definition, one run per variant × test case
# (each naming its test case's session as its result, the one that fails raising), the results, a reset.
CLIENT_CALLS = """
import sys
from sentrial import Experiment
exp = Experiment(sys.argv[1], api_key=sys.argv[2], api_url=sys.argv[3])
for variant in exp.variants:
    for case in exp.test_cases:
        try:
            with exp.track_run(variant.name, case.session_id) as tracker:
                tracker.set_result_session_id(case.session_id)
                if variant.name == "B" and case is exp.test_cases[-1]:
                    raise ValueError("boom")
        except ValueError:
            pass
exp.get_results()
exp.reset()
"""


def main() -> None:
    with LocalServer(api_key=API_KEY).start() as server:
        experiment_id, session_ids = seed_experiment(server.url)
        start = len(server.requests)
        subprocess.run([sys.argv[1], "-c", CLIENT_CALLS, experiment_id, API_KEY, server.url], check=True)
        taken = normalised(server.requests[start:], experiment_id, session_ids)
    target = Path(__file__).with_name("published_experiment_requests.json")
    target.write_text(json.dumps(taken, indent=1) + "\n")


if __name__ == "__main__":
    main()
