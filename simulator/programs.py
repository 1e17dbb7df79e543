"""Modelled programs: the ELF images a process is built from when no real binary is given.

The typical program is a minimal dynamically linked PIE (``int main(void) { return 0; }``
built with ``gcc -o a.out main.c``, gcc 12.2.0 on Debian 12: four PT_LOADs in five pages),
its ld.so and libc.so.6 (glibc 2.36). The x86 numbers are the program headers of those files
on the reference machine (``readelf -lW``). The arm64 and arm images are derived: the same
shapes with those toolchains' default segment alignment (64 KiB for aarch64 ``ld``, 4 KiB for
arm), since no such binaries run here.

| image | x86_64 span | i686 span |
|---|---|---|
| executable | 0x4018 (5 pages) | 0x4010 (5 pages) |
| ld.so | 0x342d8 | 0x34a50 |
| libc.so.6 | 0x1e1f50 | 0x227ef8 |

Hermetic: nothing here reads this machine. Each modelled file carries fixed facts of the
reference machine (kernel 6.18.44, Debian 12, glibc 2.36-9+deb12u14, root file system ext4 on
``/dev/vda``, device 254:0 = ``fe:00``), the ``A_OUT_*``, ``LD_SO_*`` and ``LIBC_*`` below (docs/hermetic.md):

* path: as /proc/PID/maps names the file (``realpath``: Debian 12 has a merged /usr);
* size: ``stat -c %s``; for the libraries also the ``st_size`` ld.so's ``fstat`` shows in the
  recordings' traces (tests/data/recordings/true64, pthreads32);
* device and inode: the ``MAJ:MIN INODE`` columns of the recordings' /proc/PID/maps
  (tests/data/recordings/*/final.maps, recorded 2026-11-27); ``stat -c '%d %i'`` gave the same
  for the 64-bit files on 2026-12-04, when the 32-bit ones had new inodes (1441817, 1441820)
  after libc6-i386 was reinstalled - which is why the host is not asked;
* THP placement: ext4 (``findmnt -T /usr/lib``) has ``thp_get_unmapped_area``.

The executable is not an installed file: its size and inode are those of the build above
(``stat -c '%s %i %d' a.out`` on 2026-12-04, in /tmp on the same file system). The derived
arm64 and arm images were measured nowhere: device 00:00, inode 0, size unknown, and no THP
placement (their mappings are all under 2 MiB, where ``thp_get_unmapped_area`` would fall
back to the ordinary search anyway).
"""

from __future__ import annotations

import attrs

from simulator.kernel.arch import Placement, Profile
from simulator.kernel.binfmt_elf import PF_R, PF_W, PF_X, ElfImage, Segment
from simulator.kernel.config import KernelConfig, ProcessConfig
from simulator.kernel.exec import exec_layout
from simulator.kernel.vma import FileRef
from simulator.libc.config import GlibcConfig
from simulator.libc.ld_so import SharedObject

R, RX, RW = PF_R, PF_R | PF_X, PF_R | PF_W


@attrs.frozen
class ReferenceFile:
    """A file of the reference machine as ``stat`` showed it (see the module docstring)."""

    path: str                   # as /proc/PID/maps names it (symlinks resolved)
    size: int | None            # st_size; None: not measured
    dev: str = "00:00"          # st_dev as MAJ:MIN
    inode: int = 0              # st_ino
    thp_aligned: bool = False   # its file system places large mappings THP-aligned

    def open(self) -> FileRef:
        """A new open file (``struct file``) of it, read-only as ld.so and the kernel open it."""
        return FileRef(self.path, self.dev, self.inode, thp_aligned=self.thp_aligned,
                       size=self.size, writable=False)


def _x86(path: str, size: int, inode: int) -> ReferenceFile:
    return ReferenceFile(path, size, "fe:00", inode, thp_aligned=True)


# The modelled files, with the reference machine's facts (module docstring, docs/hermetic.md).
A_OUT_X86_64 = _x86("/usr/local/bin/a.out", 15840, 2146983)
LD_SO_X86_64 = _x86("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", 215000, 338944)
LIBC_X86_64 = _x86("/usr/lib/x86_64-linux-gnu/libc.so.6", 1926232, 339380)
A_OUT_I686 = _x86("/usr/local/bin/a.out", 14960, 2146984)
LD_SO_I686 = _x86("/usr/lib32/ld-linux.so.2", 212472, 1442185)
LIBC_I686 = _x86("/usr/lib32/libc.so.6", 2225200, 1442188)
A_OUT_AARCH64 = ReferenceFile("/usr/local/bin/a.out", None)
LD_SO_AARCH64 = ReferenceFile("/usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1", None)
LIBC_AARCH64 = ReferenceFile("/usr/lib/aarch64-linux-gnu/libc.so.6", None)
A_OUT_ARM = ReferenceFile("/usr/local/bin/a.out", None)
LD_SO_ARM = ReferenceFile("/usr/lib/arm-linux-gnueabihf/ld-linux-armhf.so.3", None)
LIBC_ARM = ReferenceFile("/usr/lib/arm-linux-gnueabihf/libc.so.6", None)


def _obj(file: ReferenceFile, interp: str | None, segments, relro=None, needed=(),
         align=0x1000) -> SharedObject:
    segs = tuple(Segment(v, m, f, o, fl, align) for (v, m, f, o, fl) in segments)
    elf = ElfImage(file.open(), True, segs, interp)
    return SharedObject(elf, relro, tuple(needed))


# x86_64 ---------------------------------------------------------------------------------

def exe64() -> SharedObject:
    return _obj(A_OUT_X86_64, "/lib64/ld-linux-x86-64.so.2", [
        (0x0, 0x5E0, 0x5E0, 0x0, R), (0x1000, 0x13D, 0x13D, 0x1000, RX),
        (0x2000, 0xDC, 0xDC, 0x2000, R), (0x3E00, 0x218, 0x210, 0x2E00, RW)],
        relro=(0x3E00, 0x200), needed=("libc.so.6",))


def ld_so64() -> SharedObject:
    return _obj(LD_SO_X86_64, None, [
        (0x0, 0xD58, 0xD58, 0x0, R), (0x1000, 0x25111, 0x25111, 0x1000, RX),
        (0x27000, 0x9C7C, 0x9C7C, 0x27000, R), (0x31900, 0x29D8, 0x2810, 0x31900, RW)],
        relro=(0x31900, 0x1700))


def libc64() -> SharedObject:
    return _obj(LIBC_X86_64, None, [
        (0x0, 0x25388, 0x25388, 0x0, R), (0x26000, 0x1550FC, 0x1550FC, 0x26000, RX),
        (0x17C000, 0x52C31, 0x52C31, 0x17C000, R), (0x1CF8D0, 0x12680, 0x4F98, 0x1CF8D0, RW)],
        relro=(0x1CF8D0, 0x3730), needed=("ld-linux-x86-64.so.2",))


# i686 -----------------------------------------------------------------------------------

def exe32() -> SharedObject:
    return _obj(A_OUT_I686, "/lib/ld-linux.so.2", [
        (0x0, 0x39C, 0x39C, 0x0, R), (0x1000, 0x1AC, 0x1AC, 0x1000, RX),
        (0x2000, 0xF0, 0xF0, 0x2000, R), (0x3EE8, 0x128, 0x124, 0x2EE8, RW)],
        relro=(0x3EE8, 0x118), needed=("libc.so.6",))


def ld_so32() -> SharedObject:
    return _obj(LD_SO_I686, None, [
        (0x0, 0xB20, 0xB20, 0x0, R), (0x1000, 0x22D21, 0x22D21, 0x1000, RX),
        (0x24000, 0xD4D4, 0xD4D4, 0x24000, R), (0x32BA0, 0x1EB0, 0x1DBC, 0x31BA0, RW)],
        relro=(0x32BA0, 0x1460))


def libc32() -> SharedObject:
    return _obj(LIBC_I686, None, [
        (0x0, 0x218B4, 0x218B4, 0x0, R), (0x22000, 0x178FA2, 0x178FA2, 0x22000, RX),
        (0x19B000, 0x7F543, 0x7F543, 0x19B000, R), (0x21B2F4, 0xC628, 0x2C24, 0x21B2F4, RW)],
        relro=(0x21B2F4, 0x1D0C), needed=("ld-linux.so.2",))


# arm64 and arm (derived shapes) ---------------------------------------------------------

def exe_aarch64() -> SharedObject:
    return _obj(A_OUT_AARCH64, "/lib/ld-linux-aarch64.so.1", [
        (0x0, 0x7A4, 0x7A4, 0x0, RX), (0x1FDC8, 0x270, 0x268, 0xFDC8, RW)],
        relro=(0x1FDC8, 0x238), needed=("libc.so.6",), align=0x10000)


def ld_so_aarch64() -> SharedObject:
    return _obj(LD_SO_AARCH64, None, [
        (0x0, 0x2A2C0, 0x2A2C0, 0x0, RX), (0x3B9A0, 0x1C08, 0x19C0, 0x2B9A0, RW)],
        relro=(0x3B9A0, 0x1660), align=0x10000)


def libc_aarch64() -> SharedObject:
    return _obj(LIBC_AARCH64, None, [
        (0x0, 0x180C2C, 0x180C2C, 0x0, RX), (0x19C7F0, 0xD538, 0x4F48, 0x18C7F0, RW)],
        relro=(0x19C7F0, 0x37F0), needed=("ld-linux-aarch64.so.1",), align=0x10000)


def exe_arm() -> SharedObject:
    return _obj(A_OUT_ARM, "/lib/ld-linux-armhf.so.3", [
        (0x0, 0x5F8, 0x5F8, 0x0, RX), (0x1F0C, 0x124, 0x120, 0xF0C, RW)],
        relro=(0x1F0C, 0xF4), needed=("libc.so.6",))


def ld_so_arm() -> SharedObject:
    return _obj(LD_SO_ARM, None, [
        (0x0, 0x1F2C0, 0x1F2C0, 0x0, RX), (0x2FAD8, 0x1470, 0x1358, 0x1FAD8, RW)],
        relro=(0x2FAD8, 0x528))


def libc_arm() -> SharedObject:
    return _obj(LIBC_ARM, None, [
        (0x0, 0xF8C14, 0xF8C14, 0x0, RX), (0x108B1C, 0x5430, 0x2A0C, 0xF8B1C, RW)],
        relro=(0x108B1C, 0x20E4), needed=("ld-linux-armhf.so.3",))


def typical_process_images(profile: Profile) -> tuple[SharedObject, SharedObject,
                                                      list[SharedObject]]:
    """The executable, ld.so and libraries of the typical program for ``profile``."""
    if profile.placement is Placement.ARM or profile.name == "aarch64-compat":
        return exe_arm(), ld_so_arm(), [libc_arm()]
    if profile.name.startswith("aarch64"):
        return exe_aarch64(), ld_so_aarch64(), [libc_aarch64()]
    if profile.task_bits == 64:
        return exe64(), ld_so64(), [libc64()]
    return exe32(), ld_so32(), [libc32()]


def typical_process(profile: Profile, proc: ProcessConfig = ProcessConfig(),
                    glibc: GlibcConfig = GlibcConfig(), kconfig: KernelConfig = KernelConfig()):
    """The typical program exec'd and started by ld.so: a glibc ``Process`` at the start of
    ``main``."""
    from simulator.libc.process import start_process

    exe, rtld, libs = typical_process_images(profile)
    mm = exec_layout(profile, exe.elf, rtld.elf, kconfig=kconfig, proc=proc)
    return start_process(mm, exe, rtld, libs, glibc, proc=proc)


def typical_program(profile: Profile) -> tuple[ElfImage, ElfImage]:
    """The executable and interpreter ELF images (the kernel's part) of the typical program."""
    exe, rtld, _libs = typical_process_images(profile)
    return exe.elf, rtld.elf
