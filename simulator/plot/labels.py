"""Placing labels along one dimension without overlaps (the leader-line layout)."""

from __future__ import annotations


def spread(targets: list[float], sep: float, lo: float, hi: float) -> list[float]:
    """Positions for labels wanted at ``targets``: at least ``sep`` apart, inside
    ``[lo, hi]``, each as close to its target as the others allow (blocks of overlapping
    labels are centred on their targets' mean). Returns positions in the input order."""
    n = len(targets)
    if n == 0:
        return []
    if sep * (n - 1) > hi - lo:
        sep = (hi - lo) / max(n - 1, 1)
    order = sorted(range(n), key=lambda i: (targets[i], i))
    # Each block: [first index into order, count, sum of targets]
    blocks: list[list] = []

    def start(block):
        first, count, total = block
        centre = total / count
        s = centre - sep * (count - 1) / 2
        return min(max(s, lo), hi - sep * (count - 1))

    for k, i in enumerate(order):
        blocks.append([k, 1, targets[i]])
        while len(blocks) > 1:
            a, b = blocks[-2], blocks[-1]
            if start(a) + sep * a[1] > start(b) + 1e-9:
                blocks[-2] = [a[0], a[1] + b[1], a[2] + b[2]]
                blocks.pop()
            else:
                break
    pos = [0.0] * n
    for block in blocks:
        s = start(block)
        for j in range(block[1]):
            pos[order[block[0] + j]] = s + j * sep
    return pos


def thin(positions: list[float], sep: float) -> list[int]:
    """Indices of the positions to keep (in the given priority order) so that no two kept
    ones are closer than ``sep``."""
    kept: list[int] = []
    for i, y in enumerate(positions):
        if all(abs(y - positions[j]) >= sep for j in kept):
            kept.append(i)
    return kept
