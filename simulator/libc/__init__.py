"""What glibc does on top of the kernel: pthread stacks, malloc and ld.so.

Every effect on the address space goes through the kernel model's system calls
(:class:`simulator.libc.process.Process` wraps them and logs each one), so the call sequence
can be compared with ``strace`` of a real program.
"""
