import threading, mmap
def work():
    for _ in range(6):
        m = mmap.mmap(-1, 1 << 20)
        m.resize(2 << 20)
        m.close()
ts = [threading.Thread(target=work) for _ in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print("done")
