"""A benchmark's worker process: it builds named training loops on request and times them, so that a
coordinator can alternate between loops that must not share a process (PyTorch and JAX, or JAX under two
XLA_FLAGS) and no side's thread pool spins on the cores while another is timed. Standard library only: each
worker imports its own framework.

The protocol is one JSON line each way. The worker first writes a line about itself; then
  {"build": NAME, ...}         -> {"params": N, ...}   (what `build(request)` returns, less "run")
  {"run": NAME, "steps": N}    -> {"seconds": wall time of N steps}
until its stdin closes.
"""

import json
import os
import subprocess
import sys
import time


def serve(about: dict, build) -> None:
    """Answers requests on stdin (module docstring); build(request) returns a dict whose "run" is a function
    of a step count and whose other entries are the answer."""
    print(json.dumps(about), flush=True)
    runs = {}
    for line in sys.stdin:
        request = json.loads(line)
        if "build" in request:
            built = build(request)
            runs[request["build"]] = built.pop("run")
            answer = built
        else:
            start = time.perf_counter()
            runs[request["run"]](request["steps"])
            answer = {"seconds": time.perf_counter() - start}
        print(json.dumps(answer), flush=True)


class Worker:
    """The coordinator's end of a worker started as `python -m MODULE ARGS` with `env` over os.environ."""

    def __init__(self, module: str, *args: str, env: dict | None = None):
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        self.module = module
        self.about = self._answer()

    def _answer(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.module} worker stopped (exit code {self.process.wait()})")
        return json.loads(line)

    def ask(self, **request) -> dict:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()
