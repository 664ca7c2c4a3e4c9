"""Unit tier: pure logic, fast. No database, no network, no subprocess, no sleep, no matplotlib.

The guards below hold the tier to that: the database and fake Bot API fixtures are refused here,
and a test that opens a socket, starts a process, calls ``time.sleep`` in its own thread or imports
matplotlib fails with the reason (threads the code under test starts may wait; time limits are
measured, not slept). matplotlib because its first import on a machine builds a font cache (files,
and ``fc-list`` in a subprocess where it searches the system's fonts): such a test would pass where
a cache exists and fail on a new machine. A test that needs any of these belongs in
tests/integration or tests/acceptance.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest


def _not_here(what: str):
    pytest.fail(f"unit tests use no {what}: move this test to tests/integration or tests/acceptance", pytrace=False)


@pytest.fixture
def db_url():
    _not_here("database")


@pytest.fixture
def pg_url():
    _not_here("database")


@pytest.fixture
def sqlite_url():
    _not_here("database")


@pytest.fixture
def fake_tg():
    _not_here("fake Bot API (network)")


class _NoMatplotlib:
    """A meta path finder that fails the test importing matplotlib (or any part of it not yet imported)."""

    def find_spec(self, name, path=None, target=None):
        if name == "matplotlib" or name.startswith("matplotlib."):
            _not_here(f"matplotlib (import {name}: its first import on a machine builds a font cache, "
                      "files and a subprocess; draw charts in tests/integration)")
        return None


@pytest.fixture(autouse=True)
def _pure(monkeypatch):
    test_thread = threading.get_ident()
    real_sleep = time.sleep

    def sleep(seconds):
        if threading.get_ident() == test_thread:
            _not_here(f"sleep (time.sleep({seconds!r}))")
        real_sleep(seconds)

    def connect(self, address):
        _not_here(f"network (connect to {address!r})")

    def popen(self, *args, **kwargs):
        _not_here("subprocess")

    monkeypatch.setattr(time, "sleep", sleep)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    monkeypatch.setattr(subprocess.Popen, "__init__", popen)
    finder = _NoMatplotlib()
    sys.meta_path.insert(0, finder)
    yield
    sys.meta_path.remove(finder)
