"""The garbage collector around the simulator's long loops (issue 13, measured in bench/).

The model allocates small objects (VMAs, log entries, thread records) and keeps most of them,
and it makes no reference cycles on its hot paths: reference counting frees what it drops.
CPython's cyclic collector still walks the young objects every 700 allocations and, as the
heap grows, the whole heap again and again: 10-25% of ``vasim threads`` and of a long replay.
:func:`gc_paused` turns it off for a loop whose size the simulator bounds (simulator/limits.py)
and turns it back on afterwards, with what the loop built frozen (``gc.freeze``) so that it
is not walked at the next collection either. Only cyclic garbage made inside the loop would
stay; the model makes none on these paths.
"""

from __future__ import annotations

import contextlib
import gc


@contextlib.contextmanager
def gc_paused():
    """Run the body with the cyclic garbage collector disabled (restored afterwards, also on
    an exception; nested uses leave it as the outermost found it)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # What the body built is mostly kept: move it out of the collector's generations
        # (gc.freeze), or turning the collector back on walks all of it at the next
        # allocation. Objects in the permanent generation are still freed by their counts.
        gc.freeze()
        if was_enabled:
            gc.enable()
