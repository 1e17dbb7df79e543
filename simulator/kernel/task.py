"""Tasks as the kernel keeps them: a ``task_struct`` points at an ``mm_struct``.

::

    task (pid, parent, personality, rlimits, creds) ──mm──▶ AddressSpace
      fork / vfork / clone without CLONE_VM:  child ──▶ dup_mmap(parent's mm)   (a copy)
      clone(CLONE_VM) (threads; vfork until exec):     child ──▶ the same mm   (shared)
      execve (success):  the task ──▶ a fresh mm from the new binary (exec_mmap)
      execve (failure):  nothing changes

kernel/fork.c ``copy_process`` / ``copy_mm`` and fs/exec.c ``exec_mmap`` / ``begin_new_exec``.
A :class:`Task` is an immutable value; who holds which task (the pid table) is the caller's,
and the address space it points at is the one mutable owner of memory state.
"""

from __future__ import annotations

import attrs

from simulator.kernel.arch import Profile, get_profile
from simulator.kernel.binfmt_elf import ElfImage
from simulator.kernel.config import KernelConfig, Personality, ProcessConfig
from simulator.kernel.exec import ExecBases, exec_layout
from simulator.kernel.fork import dup_mmap
from simulator.kernel.mm import AddressSpace
from simulator.kernel.cred import (
    CAP_IPC_LOCK, CAP_SYS_RESOURCE, Credentials, capable, cred_at_exec,
)
from simulator.kernel.resource import Rlimits
from simulator.kernel.shm import shm_fork

__all__ = ["Task", "Credentials", "Rlimits", "copy_process", "exec_task", "exec_profile"]

# include/uapi/linux/sched.h
CLONE_VM = 0x00000100
CLONE_VFORK = 0x00004000
CLONE_PARENT = 0x00008000
CLONE_THREAD = 0x00010000

#: The profile a task runs under after exec of an ELF of the other word size (compat mode):
#: an IA-32 binary on x86_64 runs as i686, an AArch32 one on arm64 as aarch64-compat; a
#: 64-bit binary exec'd from a compat task returns to the kernel's native profile. Data, not
#: code: one row per kernel.
COMPAT_PROFILES = {
    "x86_64": {32: "i686"},
    "x86_64-5level": {32: "i686"},
    "i686": {64: "x86_64"},
    "aarch64-39": {32: "aarch64-compat"},
    "aarch64-48": {32: "aarch64-compat"},
    "aarch64-52": {32: "aarch64-compat"},
    "aarch64-compat": {64: "aarch64-48"},
}


@attrs.frozen
class Task:
    """``struct task_struct``, the parts that shape an address space.

    ``mm`` is shared by identity between tasks created with CLONE_VM. ``executable`` is the
    path of the last successful execve (None for a task whose exec the log did not show).
    """

    pid: int
    tgid: int
    parent: int | None
    personality: Personality
    rlimits: Rlimits
    creds: Credentials
    profile: Profile
    mm: AddressSpace
    executable: str | None = None

    def process_config(self, seed: int = 0) -> ProcessConfig:
        """What this task brings to its next exec."""
        return ProcessConfig(personality=self.personality, rlimit_stack=self.rlimits.stack,
                             rlimit_as=self.rlimits.address_space,
                             rlimit_memlock=self.rlimits.memlock,
                             cap_ipc_lock=capable(self.creds, CAP_IPC_LOCK),
                             uid=self.creds.uid,
                             cap_sys_resource=capable(self.creds, CAP_SYS_RESOURCE), seed=seed)

    def enter(self) -> AddressSpace:
        """This task's address space, ready for a call made by this task: its credentials
        and limits installed as the ones the kernel reads through ``current``. O(1)."""
        mm = self.mm
        mm.cred = self.creds
        mm.rlim = self.rlimits
        return mm


def copy_process(parent: Task, pid: int, clone_flags: int) -> Task:
    """kernel/fork.c ``copy_process``: the new task for a successful fork/vfork/clone.

    The child inherits personality, rlimits (``copy_signal``: a copy; threads share one
    ``signal_struct``, which a caller keeping tasks as values mirrors by updating every task
    of the thread group) and credentials (``copy_creds``); ``copy_mm`` shares the parent's
    mm under CLONE_VM and otherwise gives it ``dup_mmap`` of the parent's mm at this instant.
    Cost: O(n log n) in the parent's VMAs without CLONE_VM, O(1) with it.
    """
    # HOOK (task limits): the kernel checks RLIMIT_NPROC, threads-max, pid_max and pids.max
    # here, before copy_mm. simulator/kernel/tasklimits.py (the `tasks` branch) models them:
    # once merged, call copy_process_errno(kconfig, proc, counts) at this point and return
    # its Errno (EAGAIN) without creating anything. Replay does not need it: a log shows
    # only clones that succeeded.
    if clone_flags & CLONE_VM:
        mm = parent.mm
    else:
        mm = dup_mmap(parent.mm)
        shm_fork(mm)
    tgid = parent.tgid if clone_flags & CLONE_THREAD else pid
    real_parent = parent.parent if clone_flags & (CLONE_PARENT | CLONE_THREAD) else parent.pid
    return attrs.evolve(parent, pid=pid, tgid=tgid, parent=real_parent, mm=mm)


def exec_profile(current: Profile, elf_bits: int | None) -> Profile:
    """The profile after exec of an ELF of ``elf_bits`` (32/64) from a task in ``current``."""
    if elf_bits is None or elf_bits == current.task_bits:
        return current
    name = COMPAT_PROFILES.get(current.name, {}).get(elf_bits)
    return get_profile(name) if name is not None else current


def exec_task(task: Task, exe: ElfImage, interp: ElfImage | None, *, elf_bits: int | None,
              path: str, kconfig: KernelConfig = KernelConfig(),
              bases: ExecBases | None = None) -> Task:
    """fs/exec.c ``begin_new_exec`` → ``exec_mmap``: the task with a fresh address space
    built from ``exe`` (fs/binfmt_elf.c ``load_elf_binary``), replacing the old one; other
    tasks that shared the old mm keep it. ``bases`` fixes the random choices of an exec with
    ASLR on (see :class:`~simulator.kernel.exec.ExecBases`).

    Raises :class:`~simulator.kernel.exec.ExecError` where the kernel's exec would fail.
    """
    profile = exec_profile(task.profile, elf_bits)
    mm = exec_layout(profile, exe, interp, kconfig=kconfig, proc=task.process_config(),
                     bases=bases)
    if task.mm is not None:
        mm.shm_ns = task.mm.shm_ns  # the IPC namespace is the task's (nsproxy), not the mm's
    task = attrs.evolve(task, profile=profile, mm=mm, executable=path, tgid=task.tgid,
                        creds=cred_at_exec(task.creds))
    task.enter()
    return task
