"""Program headers of a real ELF file, read with pyelftools, as the kernel's
:class:`~simulator.kernel.binfmt_elf.ElfImage`."""

from __future__ import annotations

import os

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from simulator.errors import InputError
from simulator.host.files import host_file
from simulator.kernel.binfmt_elf import PF_X, ElfImage, Segment


def read_elf(path: str) -> ElfImage:
    """Read PT_LOAD, PT_INTERP and PT_GNU_STACK. Bad or unreadable files raise InputError."""
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            segments, interp, exec_stack = [], None, False
            for seg in elf.iter_segments():
                kind = seg["p_type"]
                if kind == "PT_LOAD":
                    segments.append(Segment(seg["p_vaddr"], seg["p_memsz"], seg["p_filesz"],
                                            seg["p_offset"], seg["p_flags"], seg["p_align"]))
                elif kind == "PT_INTERP":
                    interp = seg.get_interp_name()
                elif kind == "PT_GNU_STACK":
                    exec_stack = bool(seg["p_flags"] & PF_X)
            dynamic = elf["e_type"] == "ET_DYN"
    except OSError as err:
        raise InputError(path, None, f"cannot read: {err.strerror or err}") from None
    except ELFError as err:
        raise InputError(path, None, f"not an ELF file: {err}") from None
    if not segments:
        raise InputError(path, None, "no PT_LOAD segments")
    return ElfImage(host_file(path), dynamic, tuple(segments), interp, exec_stack)


def read_shared_object(path: str) -> "SharedObject":
    """PT_LOADs, PT_GNU_RELRO and DT_NEEDED of a real file, for the ld.so model."""
    from simulator.libc.ld_so import SharedObject

    image = read_elf(path)
    relro, needed = None, []
    with open(path, "rb") as f:
        elf = ELFFile(f)
        for seg in elf.iter_segments():
            if seg["p_type"] == "PT_GNU_RELRO":
                relro = (seg["p_vaddr"], seg["p_memsz"])
        dynamic = elf.get_section_by_name(".dynamic")
        if dynamic is not None:
            needed = [tag.needed for tag in dynamic.iter_tags() if tag.entry.d_tag == "DT_NEEDED"]
    return SharedObject(image, relro, tuple(needed))


#: Where ld.so finds libraries on Debian-style systems (the multiarch directories first).
LIBRARY_DIRS = {
    64: ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib",
         "/usr/lib"),
    32: ("/lib32", "/usr/lib32", "/lib/i386-linux-gnu", "/usr/lib/i386-linux-gnu", "/lib",
         "/usr/lib"),
}


def load_program(path: str, bits: int):
    """A real program as ld.so would load it: the executable, its interpreter, and its
    DT_NEEDED libraries in breadth-first order (the interpreter itself excluded)."""
    exe = read_shared_object(path)
    if exe.elf.interp is None:
        return exe, None, []
    rtld = read_shared_object(exe.elf.interp)
    rtld_name = os.path.basename(exe.elf.interp)
    libs, queue, seen = [], list(exe.needed), set()
    while queue:
        name = queue.pop(0)
        if name in seen or name == rtld_name or name.startswith("ld-linux"):
            continue
        seen.add(name)
        for directory in LIBRARY_DIRS[bits]:
            candidate = os.path.join(directory, name)
            if os.path.exists(candidate):
                lib = read_shared_object(candidate)
                libs.append(lib)
                queue.extend(lib.needed)
                break
        else:
            raise InputError(path, None, f"cannot find the library {name}")
    return exe, rtld, libs
