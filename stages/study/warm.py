"""Stage commands in a warm interpreter: each `python -m stages.<x> …` line runs in a fork of one process
that has imported torch already, instead of in a new Python that imports it again.

Starting Python and importing torch costs every stage about a second on 2 cores (121 stages in the
default study), paid on the workers' critical path. A Dask worker starts one server (this file, run as
a script, so that no project module is imported before a stage imports its own): it imports PRELOAD
and then, per request, forks a child that runs the module exactly as `python -m` would — its own
working directory, environment, `sys.argv` and `sys.path[0]`, stdout and stderr to a log file, stdin
empty — and reports the exit code. The server itself runs no torch op and starts no thread, so the
fork is safe, and every stage starts from the same fresh state (nothing leaks from one stage to the
next). A command line that is anything else (another program, shell syntax) runs through the shell.

Protocol (one JSON line each way): {"module", "args", "cwd", "env", "log"} → {"code"}.
"""

from __future__ import annotations

import json
import os
import runpy
import shlex
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

# Third-party only (the dependency trace counts project imports), and none that starts a thread (scipy's
# BLAS does, so it is left out). torch._dynamo is what the first optimizer imports (0.5-0.9 s a stage);
# optuna serves the tune stages, matplotlib (Agg) the plots.
PRELOAD = ("torch", "torch._dynamo", "numpy", "yaml", "optuna", "matplotlib.pyplot")
SHELL_SYNTAX = set("$`;&|<>*?(){}[]~\\\"'#\n")


def python_module(line: str, env: dict[str, str]) -> tuple[str, list[str]] | None:
    """(module, args) when `line` is plain `python -m module args` and `python` on the stage's PATH is this
    interpreter (same path, so the same environment's packages); otherwise None."""
    if SHELL_SYNTAX.intersection(line):
        return None
    argv = shlex.split(line)
    if len(argv) < 3 or argv[1] != "-m" or argv[2].startswith("-"):
        return None
    found = shutil.which(argv[0], path=env.get("PATH"))
    same = found is not None and Path(found).absolute() == Path(sys.executable).absolute()
    return (argv[2], argv[3:]) if same else None


class WarmServer:
    """The client side: one server process, started with `env`, that runs modules in forked children."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.process = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        env=env, text=True)

    def run(self, module: str, args: list[str], cwd: str, env: dict[str, str], log: Path) -> int:
        """Run `python -m module args` in `cwd` with `env`, its output into `log`; its exit code."""
        request = {"module": module, "args": args, "cwd": cwd, "env": env, "log": str(log)}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        reply = self.process.stdout.readline()
        if not reply:
            raise RuntimeError(f"the warm interpreter exited ({self.process.wait()}) while running {module}")
        return json.loads(reply)["code"]

    def close(self) -> None:
        """Stop the server (it exits when its stdin closes)."""
        self.process.stdin.close()
        self.process.wait()


_servers: dict[tuple, WarmServer] = {}


def server_for(env: dict[str, str]) -> WarmServer:
    """This process's server for stages run with `env`'s threads and devices (started on first use)."""
    key = tuple(sorted((k, v) for k, v in env.items() if k.startswith(("OMP_", "RNN_RECIPES_", "CUDA_"))))
    if key not in _servers or _servers[key].process.poll() is not None:
        _servers[key] = WarmServer(env)
    return _servers[key]


# ------------------------------------------------------------------ the server side

def _child(request: dict) -> None:
    """In the forked child: become `python -m module args` and exit with its code."""
    code = 1
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        sys.stdin = open(0, closefd=False)
        sys.path[0] = os.getcwd()  # as `python -m` puts the working directory first
        sys.argv = [request["module"], *request["args"]]
        for alias in [name for name, m in sys.modules.items() if getattr(m, "__file__", None) == __file__]:
            del sys.modules[alias]  # `__mp_main__` (multiprocessing's name for this script): not the stage's
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if not isinstance(exit_.code, (int, type(None))):
            print(exit_.code, file=sys.stderr)
    except BaseException:  # as Python itself would: the traceback on stderr, exit code 1
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    """Import PRELOAD, then fork one child per request line on stdin until stdin closes."""
    os.environ.setdefault("MPLBACKEND", "Agg")  # the stages draw to files; a child's own env replaces this
    for name in PRELOAD:
        __import__(name)
    requests, replies = sys.stdin, sys.stdout
    for line in requests:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        _, status = os.waitpid(pid, 0)
        replies.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}) + "\n")
        replies.flush()


if __name__ == "__main__":
    serve()
