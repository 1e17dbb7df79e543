"""Scenario files: a question, a process, the steps it takes and what should happen.

:func:`simulator.scenario.spec.load` reads and checks a TOML file into a
:class:`~simulator.scenario.spec.Scenario`; :func:`simulator.scenario.runner.run` runs it on
the kernel and glibc models; :mod:`simulator.scenario.report` turns the result into sentences
and JSON.
"""
