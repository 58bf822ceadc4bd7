"""One rank of the CPU FSDP consolidation test: wrap a tiny StageModule in torch FSDP (gloo, 2 processes) and
save it as Lightning's FSDPStrategy does: a full state dict gathered on rank 0 (state_dict_type "full") into
a .ckpt file, and a sharded torch.distributed.checkpoint directory + meta.pt (state_dict_type "sharded")."""

import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.fsdp import FullStateDictConfig, StateDictType
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

sys.path.insert(0, str(Path(__file__).parents[1]))
import stagegen
from v2meow.training.stages import StageModule


def main(rank: int, world: int, out: Path) -> None:
    dist.init_process_group("gloo", init_method=f"file://{out / 'rendezvous'}", rank=rank, world_size=world)
    torch.manual_seed(0)
    module = StageModule(stagegen.stage3(), ema_decay=0.9)
    if rank == 0:
        module.model.save_pretrained(out / "reference")
    meta: dict = {"global_step": 7}
    module.on_save_checkpoint(meta)  # the embedded component config, as every v2meow checkpoint has
    wrapped = FSDP(module, device_id=torch.device("cpu"), use_orig_params=True)
    assert (
        sum(p.numel() for p in wrapped.parameters()) < sum(p.numel() for p in stagegen.stage3().parameters()) * 2
    )  # sharded
    with FSDP.state_dict_type(
        wrapped, StateDictType.FULL_STATE_DICT, FullStateDictConfig(offload_to_cpu=True, rank0_only=True)
    ):
        full = wrapped.state_dict()
    if rank == 0:
        torch.save({**meta, "state_dict": full}, out / "full.ckpt")
    with FSDP.state_dict_type(wrapped, StateDictType.SHARDED_STATE_DICT):
        dcp.save({"model": wrapped.state_dict()}, checkpoint_id=str(out / "sharded.ckpt"))
    if rank == 0:
        torch.save(meta, out / "sharded.ckpt" / "meta.pt")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
