"""Runs a training script under torchrun as several machines, all on this one."""

import os
import subprocess
import sys
from pathlib import Path

# One thread a process, and no GPU: the processes of a test share this machine's cores.
CPU_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}


def torchrun_nodes(script: Path, nodes: int, per_node: int, script_args: list[str]) -> None:
    """`nodes` machines of `per_node` processes: one torchrun agent a node, meeting through c10d rendezvous on
    localhost (the README's several-machine line). Fails with the agents' stderr."""
    port = str(29500 + os.getpid() % 1000 + 7 * nodes)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nnodes", str(nodes), "--nproc_per_node",
                str(per_node), "--rdzv_backend", "c10d", "--rdzv_endpoint", f"localhost:{port}", "--rdzv_id",
                f"test-{os.getpid()}", str(script), *script_args]
    agents = [subprocess.Popen(launcher, env=CPU_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(nodes)]
    for agent in agents:
        _, stderr = agent.communicate(timeout=600)
        assert agent.returncode == 0, stderr[-3000:]
