"""What one vasim run may build: the simulator's own bounds, stated once.

The kernel's limits (vm.max_map_count, RLIMIT_AS, TASK_SIZE, pid_max) are modelled and
produce results. These are different: they bound the work and the memory of the simulator
itself, so that no input can run the machine out of memory or time. A scenario is checked
against the static ones when it is loaded (exit status 2 before anything runs); a run that
reaches a dynamic one stops with one line saying so (exit status 2), because the question
it asked cannot be answered within them. docs/scenarios.md ("Limits") lists them.

Costs they are chosen from (the model on one core, 2026): a thread with a guard page costs
about 1.4 KiB and 40 us, a mapping about 0.5 KiB; so the largest run allowed stays under
about 1 GiB and half a minute.
"""

from __future__ import annotations

#: Threads one process may create (524,288). Above every count the modelled kernels allow by default
#: (pid_max 32768 and threads-max in the hundred thousands on an ordinary machine), and
#: below PID_MAX_LIMIT (4,194,304 on 64-bit, include/linux/threads.h), which no kernel passes.
MAX_THREADS = 1 << 19
#: Mappings (VMAs) one process may hold. Above 1,000,000, so any vm.max_map_count up to a
#: million is honoured exactly: the kernel's limit is reached first.
MAX_MAPPINGS = 1 << 20
#: Step runs (each step's ``repeat``, summed) one process of a scenario may take.
MAX_STEP_RUNS = 100_000
#: Processes one scenario may run ([compare] tables and arch lists).
MAX_PROCESSES = 64
#: Bytes of one scenario file.
MAX_SCENARIO_BYTES = 1 << 20
#: Digits of one number (in a size or an expression): 2**64 has 20 decimal digits, 16 hex;
#: checked before int(), whose own limit (4,300 digits) would be a traceback.
MAX_NUMBER_DIGITS = 24
#: Tokens of one expression ("stack - 4K" has 3) and nesting of its parentheses.
MAX_EXPR_TOKENS = 64
MAX_EXPR_DEPTH = 8
#: Characters of one expression.
MAX_EXPR_CHARS = 256
#: The largest value a size or address may take before the profile is known: 2**64 - 1.
MAX_VALUE = (1 << 64) - 1
