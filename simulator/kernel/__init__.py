"""The kernel model: what Linux does to a process address space."""
