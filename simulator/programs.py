"""Modelled programs: the ELF images the layout at exec is built from when no real binary
is given.

The x86 images are the program headers of real binaries on the reference machine (Debian 12):
``/usr/bin/true`` with ``ld-linux-x86-64.so.2`` for 64-bit, and a minimal ``gcc -m32`` PIE
(``int main(void) { return 0; }``) with ``/usr/lib32/ld-linux.so.2`` for 32-bit. Where the
file exists on this machine its device and inode are used, so the maps text looks real.
The arm64 and arm images are derived: the same shapes with the toolchains' default segment
alignment (64 KiB for aarch64 ``ld``, 4 KiB for arm), since no such binaries run here.
"""

from __future__ import annotations

from simulator.host.files import host_file
from simulator.kernel.arch import Profile
from simulator.kernel.binfmt_elf import PF_R, PF_W, PF_X, ElfImage, Segment

R, RX, RW = PF_R, PF_R | PF_X, PF_R | PF_W


def _image(path: str, interp: str | None, segments, align: int = 0x1000) -> ElfImage:
    segs = tuple(Segment(v, m, f, o, fl, align) for (v, m, f, o, fl) in segments)
    return ElfImage(host_file(path), True, segs, interp)


def true64() -> ElfImage:
    """/usr/bin/true, x86_64 (readelf -lW on Debian 12)."""
    return _image("/usr/bin/true", "/lib64/ld-linux-x86-64.so.2", [
        (0x0, 0x1290, 0x1290, 0x0, R), (0x2000, 0x3D59, 0x3D59, 0x2000, RX),
        (0x6000, 0x1B60, 0x1B60, 0x6000, R), (0x8D70, 0x608, 0x470, 0x7D70, RW)])


def ld_so64() -> ElfImage:
    """ld-linux-x86-64.so.2 (glibc 2.36, Debian 12)."""
    return _image("/lib64/ld-linux-x86-64.so.2", None, [
        (0x0, 0xD58, 0xD58, 0x0, R), (0x1000, 0x25111, 0x25111, 0x1000, RX),
        (0x27000, 0x9C7C, 0x9C7C, 0x27000, R), (0x31900, 0x29D8, 0x2810, 0x31900, RW)])


def main32() -> ElfImage:
    """A minimal ``gcc -m32`` PIE (gcc 12, Debian 12)."""
    return _image("/usr/local/bin/a.out", "/lib/ld-linux.so.2", [
        (0x0, 0x39C, 0x39C, 0x0, R), (0x1000, 0x1AC, 0x1AC, 0x1000, RX),
        (0x2000, 0xF0, 0xF0, 0x2000, R), (0x3EE8, 0x128, 0x124, 0x2EE8, RW)])


def ld_so32() -> ElfImage:
    """ld-linux.so.2 (glibc 2.36, Debian 12 multilib)."""
    return _image("/lib/ld-linux.so.2", None, [
        (0x0, 0xB20, 0xB20, 0x0, R), (0x1000, 0x22D21, 0x22D21, 0x1000, RX),
        (0x24000, 0xD4D4, 0xD4D4, 0x24000, R), (0x32BA0, 0x1EB0, 0x1DBC, 0x31BA0, RW)])




def true_aarch64() -> ElfImage:
    """An aarch64 PIE in the shape GNU ld gives it: text and data segments, 64 KiB p_align."""
    return _image("/usr/bin/true", "/lib/ld-linux-aarch64.so.1", [
        (0x0, 0x4C8C, 0x4C8C, 0x0, RX), (0x1FC10, 0x580, 0x468, 0xFC10, RW)], align=0x10000)


def ld_so_aarch64() -> ElfImage:
    """ld-linux-aarch64.so.1 in glibc 2.36's shape (64 KiB p_align)."""
    return _image("/lib/ld-linux-aarch64.so.1", None, [
        (0x0, 0x2A2C0, 0x2A2C0, 0x0, RX), (0x3B9A0, 0x1C08, 0x19C0, 0x2B9A0, RW)], align=0x10000)


def main_arm() -> ElfImage:
    """A minimal arm EABI PIE (binutils 2.40: 4 KiB p_align)."""
    return _image("/usr/local/bin/a.out", "/lib/ld-linux-armhf.so.3", [
        (0x0, 0x5F8, 0x5F8, 0x0, RX), (0x1F0C, 0x124, 0x120, 0xF0C, RW)])


def ld_so_arm() -> ElfImage:
    """ld-linux-armhf.so.3 in glibc 2.36's shape."""
    return _image("/lib/ld-linux-armhf.so.3", None, [
        (0x0, 0x1F2C0, 0x1F2C0, 0x0, RX), (0x2FAD8, 0x1470, 0x1358, 0x1FAD8, RW)])


def typical_program(profile: Profile) -> tuple[ElfImage, ElfImage]:
    """The executable and interpreter used for ``profile`` when none is given."""
    from simulator.kernel.arch import Placement
    if profile.placement is Placement.ARM or profile.name == "aarch64-compat":
        return main_arm(), ld_so_arm()
    if profile.name.startswith("aarch64"):
        return true_aarch64(), ld_so_aarch64()
    if profile.task_bits == 64:
        return true64(), ld_so64()
    return main32(), ld_so32()
