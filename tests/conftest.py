"""Tests that load OpenVINO run in an interpreter of their own.

OpenVINO's native thread pools and the rest of the suite (DataLoader workers, ``mp.spawn``,
onnxruntime sessions, torch's OpenMP pool) have crashed the long-running pytest process with SIGSEGV
when they shared it: a fork after OpenVINO was loaded, and once OpenVINO compiling a model after
five hundred other tests. Either test file alone never crashed. Users' processes are not affected
(a training, evaluation or inference run starts fresh), so the suite gives these tests a fresh
process too: when a run collects them together with other tests, they are deselected here and run
by ``python -m pytest`` in a subprocess at the end of the session, whose output is printed and whose
failure fails the run. Running only such tests (``pytest tests/test_runtime.py``) runs them in place.
"""
import os
import subprocess
import sys

import pytest

ISOLATED = "HRNET_ZOO_TESTS_OPENVINO_PROCESS"
OPENVINO_TESTS = pytest.StashKey[list]()


@pytest.hookimpl(trylast=True)  # after -k / -m deselection: only the selected tests move
def pytest_collection_modifyitems(session, config, items):
    if os.environ.get(ISOLATED) or config.option.collectonly:
        return
    openvino = [item for item in items if item.get_closest_marker("loads_openvino")]
    if not openvino or len(openvino) == len(items):
        return
    items[:] = [item for item in items if not item.get_closest_marker("loads_openvino")]
    config.hook.pytest_deselected(items=openvino)
    config.stash[OPENVINO_TESTS] = [item.nodeid for item in openvino]


def pytest_sessionfinish(session, exitstatus):
    node_ids = session.config.stash.get(OPENVINO_TESTS, None)
    if not node_ids or session.shouldfail or session.shouldstop:
        return
    env = {**os.environ, ISOLATED: "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *node_ids]
    print(f"\n{len(node_ids)} tests that load OpenVINO, in a fresh interpreter:", flush=True)
    proc = subprocess.run(command, cwd=session.config.rootpath, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
    print(proc.stdout, flush=True)
    if proc.returncode != 0:
        print(f"the tests that load OpenVINO failed in their own interpreter (exit {proc.returncode}, above)")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
