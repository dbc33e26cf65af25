"""What our instrumentors add to the start-up of ``opentelemetry-instrument``.

Times ``opentelemetry-instrument python -c pass`` with the Sentrial distro, once with every
instrumentor this package registers and once with them disabled through
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``, alternating the two, and prints the medians and their
difference. Nothing is exported (``OTEL_TRACES_EXPORTER=none``). The provider libraries installed
in the environment are what an app that does not use them would pay for with eager imports. Other
packages' instrumentors (OpenInference's imports openai when loaded) are disabled in both cases,
unless ``--with-others``.

Target: at most +0.5 s.

    python bench/bench_startup.py [--rounds N] [--with-others]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path

TARGET_S = 0.5


def instrumentors(ours: bool) -> list[str]:
    """The names of the instrumentors this package registers (``ours``), or of all the others."""
    return sorted(
        entry_point.name
        for entry_point in entry_points(group="opentelemetry_instrumentor")
        if (entry_point.dist is not None and entry_point.dist.name == "sentrial") == ours
    )


def time_once(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7, help="timed runs of each case (default 7)")
    parser.add_argument("--with-others", action="store_true", help="leave other packages' instrumentors on")
    args = parser.parse_args()

    launcher = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    if launcher is None:
        sys.exit("opentelemetry-instrument is not installed next to this Python")
    command = [launcher, sys.executable, "-c", "pass"]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SENTRIAL_"))}
    base.update(
        OTEL_PYTHON_DISTRO="sentrial", OTEL_PYTHON_CONFIGURATOR="sentrial", OTEL_TRACES_EXPORTER="none"
    )
    names, others = instrumentors(ours=True), [] if args.with_others else instrumentors(ours=False)
    cases = {
        "with our instrumentors": {**base, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": ",".join(others)},
        "without (disabled)": {**base, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": ",".join(names + others)},
    }
    print(f"instrumentors: {', '.join(names)}")
    for env in cases.values():  # warm-up: file system caches, .pyc files
        time_once(command, env)
    times: dict[str, list[float]] = {case: [] for case in cases}
    for _ in range(args.rounds):
        for case, env in cases.items():
            times[case].append(time_once(command, env))

    medians = {case: statistics.median(values) for case, values in times.items()}
    print(f"{'case':<24} {'median':>8} {'min':>8} {'max':>8}")
    for case, values in times.items():
        print(f"{case:<24} {medians[case]:>7.3f}s {min(values):>7.3f}s {max(values):>7.3f}s")
    added = medians["with our instrumentors"] - medians["without (disabled)"]
    verdict = "within" if added <= TARGET_S else "OVER"
    print(f"added by our instrumentors: {added:+.3f}s ({verdict} the +{TARGET_S}s target)")


if __name__ == "__main__":
    main()
