"""Where a training runs: the device, and under torchrun (RANK and WORLD_SIZE in the environment) the
process group, this process's rank and the number of processes (paper_repro.classify_train.train
shards its batches and the evaluation counts over them)."""
import atexit
import os
from dataclasses import dataclass

import torch


@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    world: int = 1
    distributed: bool = False

    @property
    def main(self):
        return self.rank == 0

    def all_sum(self, values):
        """Sum a list of numbers over processes (identity without torch.distributed)."""
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.distributed:
            import torch.distributed as dist
            dist.all_reduce(t)
        return t.tolist()


def _leave_process_group():
    """Wait for every rank (at most 60 s), then tear the group down. A rank that destroys its gloo
    group while another still talks to it makes that one abort ("terminate called without an active
    exception"); after a failure elsewhere the barrier times out and the group is torn down anyway."""
    import datetime
    import torch.distributed as dist
    if not dist.is_initialized():
        return
    try:
        if dist.get_backend() == "gloo":
            dist.monitored_barrier(timeout=datetime.timedelta(seconds=60))
        else:
            dist.barrier()
    except RuntimeError:
        pass
    dist.destroy_process_group()


def runtime(args):
    """Device and process group. Distributed when launched by torchrun (RANK, WORLD_SIZE set):
    nccl on cuda, gloo on cpu; one GPU per process (LOCAL_RANK)."""
    want = getattr(args, "device", "cpu")
    if want == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device")
    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    rank, world, local = 0, 1, 0
    if distributed:
        import torch.distributed as dist
        if not dist.is_initialized():
            dist.init_process_group("nccl" if want == "cuda" else "gloo")
            atexit.register(_leave_process_group)
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local) if want == "cuda" else torch.device("cpu")
    if want == "cuda":
        torch.cuda.set_device(device)
    return Runtime(device, rank, world, distributed)
