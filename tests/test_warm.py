"""The warm interpreter (stages/study/warm.py): a forked `python -m` behaves as a fresh one."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from stages.study import warm

PROBE = '''
import json, os, sys
import torch
if sys.argv[1:] == ["fail"]:
    print("about to fail")
    sys.exit(3)
if sys.argv[1:] == ["raise"]:
    raise ValueError("boom")
first = "probe_state" not in sys.modules
sys.modules["probe_state"] = sys  # a leak the next stage must not see
torch.manual_seed(0)
print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "env": os.environ.get("PROBE_ENV"),
                  "path0": sys.path[0], "first": first, "stdin": sys.stdin.read(),
                  "threads": torch.get_num_threads(), "draw": torch.rand(1).item()}))
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("warm")
    (folder / "probe.py").write_text(PROBE)
    env = dict(os.environ, PYTHONPATH=str(folder), OMP_NUM_THREADS="1")
    server = warm.WarmServer(env)
    yield server, folder, env
    server.close()


def run(server, module: str, *args: str, cwd: Path | None = None, extra: dict | None = None) -> tuple[int, str]:
    server, folder, env = server
    log = folder / "out.log"
    code = server.run(module, list(args), str(cwd or folder), {**env, **(extra or {})}, log)
    return code, log.read_text()


def test_a_warm_module_sees_its_own_args_cwd_env_and_a_fresh_state(server, tmp_path):
    code, out = run(server, "probe", "a", "b c", cwd=tmp_path, extra={"PROBE_ENV": "set"})
    seen = json.loads(out)
    assert code == 0
    assert seen["argv"] == ["a", "b c"] and seen["cwd"] == str(tmp_path) == seen["path0"]
    assert seen["env"] == "set" and seen["first"] and seen["stdin"] == "" and seen["threads"] == 1
    again = json.loads(run(server, "probe")[1])
    assert again["first"] and again["env"] is None  # nothing of the last stage is left
    assert again["draw"] == seen["draw"]


def test_exit_codes_and_tracebacks_are_those_of_python(server):
    assert run(server, "probe", "fail") == (3, "about to fail\n")
    code, out = run(server, "probe", "raise")
    assert code == 1 and "ValueError: boom" in out
    code, out = run(server, "no_such_module")
    assert code == 1 and "No module named no_such_module" in out


def test_only_plain_python_m_lines_of_this_interpreter_run_warm(tmp_path):
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    name = Path(sys.executable).name
    assert warm.python_module(f"{name} -m stages.train sentiment gru 0", env) == (
        "stages.train", ["sentiment", "gru", "0"])
    for line in [f"{name} -m stages.train x > log", f"{name} -m a && echo b", f"{name} -c 'print(1)'",
                 f"{name} stages/train.py", f"{name} -m -u x", "dvc repro", f"{name} -m a $HOME"]:
        assert warm.python_module(line, env) is None, line
    other = tmp_path / name  # a different interpreter first on PATH: run through the shell
    other.symlink_to(sys.executable)
    assert warm.python_module(f"{name} -m a", {"PATH": str(tmp_path)}) is None
