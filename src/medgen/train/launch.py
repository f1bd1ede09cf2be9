"""The end of a multi-process launch: the ranks meet, then the process group goes down."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

# The keys on which a launch's ranks meet before they leave (leaving_process_group).
_ARRIVED_KEY = "medgen/leaving/arrived"
_ALL_ARRIVED_KEY = "medgen/leaving/all"


@contextlib.contextmanager
def leaving_process_group(timeout: float = 60.0) -> Iterator[None]:
    """Run the body, then end a multi-process launch cleanly: meet the other ranks, then destroy
    the process group (if one was started).

    Wrap a process's last training run in it. Without the destroy, each rank exits with gloo's
    threads still running, and a rank can abort at exit ("terminate called without an active
    exception"), which fails the whole launch after the work is saved. Destroying right after the
    final barrier is not enough either: gloo closes a rank's connections at once, while a peer may
    still be finishing that barrier (pytorch/gloo#155). So the ranks first meet over the launch's
    key-value store, which is not gloo, and only then tear their connections down. A body that
    raises skips the meeting, since its peers may never arrive.
    """
    import torch.distributed as dist

    try:
        yield
    except BaseException:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        raise
    if dist.is_available() and dist.is_initialized():
        store = dist.distributed_c10d._get_default_store()
        meet_peers(store, dist.get_world_size(), timeout)
        dist.destroy_process_group()


def meet_peers(store: Any, world_size: int, timeout: float) -> bool:
    """Wait on `store` (a torch.distributed Store) until `world_size` callers have arrived, or
    `timeout` seconds pass; whether all arrived. Meant for one meeting per store."""
    from datetime import timedelta

    if store.add(_ARRIVED_KEY, 1) >= world_size:
        store.set(_ALL_ARRIVED_KEY, "1")
    try:
        store.wait([_ALL_ARRIVED_KEY], timedelta(seconds=timeout))
    except RuntimeError:  # torch's DistStoreError: a peer never came; leave anyway
        return False
    return True


__all__ = ["leaving_process_group", "meet_peers"]
