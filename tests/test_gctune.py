"""simulator/gctune.py: the cyclic collector paused around a loop, and restored."""

from __future__ import annotations

import gc

import pytest

from simulator.gctune import gc_paused


def test_gc_paused_disables_then_restores_the_collector():
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    keep = [[i] for i in range(1000)]  # objects made inside the loop and kept
    with gc_paused():
        assert not gc.isenabled()
        keep += [[i] for i in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= frozen + len(keep)  # what was built is frozen
    gc.unfreeze()


def test_gc_paused_restores_after_an_exception_and_leaves_a_disabled_collector_off():
    with pytest.raises(KeyError):
        with gc_paused():
            raise KeyError("x")
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()
        gc.unfreeze()
