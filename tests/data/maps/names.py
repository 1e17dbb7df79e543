import ctypes, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_void_p]
path = "/tmp/vs/a file with spaces.bin"
with open(path, "wb") as f: f.write(b"x" * 8192)
f = open(path, "r+b"); m1 = mmap.mmap(f.fileno(), 8192)
path2 = "/tmp/vs/gone.bin"
with open(path2, "wb") as g: g.write(b"y" * 4096)
g = open(path2, "rb"); m2 = mmap.mmap(g.fileno(), 4096, prot=mmap.PROT_READ); os.unlink(path2)
fd = os.memfd_create("my memfd"); os.ftruncate(fd, 4096); m3 = mmap.mmap(fd, 4096)
a = libc.mmap(None, 3 * 4096, 3, 0x22, -1, 0)
r = libc.prctl(0x53564d41, 0, a, 4096, b"my anon name")
print("prctl", r, ctypes.get_errno(), file=sys.stderr)
shm = libc.mmap(None, 4096, 3, 0x21, -1, 0)
libc.prctl(0x53564d41, 0, shm, 4096, b"shared thing")
kind = sys.argv[1] if len(sys.argv) > 1 else "maps"
sys.stdout.write(open(f"/proc/self/{kind}").read())
