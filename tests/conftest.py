"""Test ordering: tests that load OpenVINO into the test process run last.

Once OpenVINO's thread pools live in the long-running pytest process, a later fork (a subprocess, a
DataLoader worker, ``mp.spawn``) has crashed pytest itself with SIGSEGV, depending on what ran
before. Users' processes are not affected (a training or evaluation run starts fresh); the suite only
has to keep those tests after every test that starts another process.
"""


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: item.get_closest_marker("loads_openvino") is not None)  # stable: order kept
