"""The exported module under torch's DistributedDataParallel: 2 CPU processes (gloo, on
localhost), each training on its half of every batch, end with the weights that training
in one process on the whole batch gives. Marked slow: it starts two Python processes."""

from __future__ import annotations

import datetime
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from test_compile_extremes import assert_agree
from tiny_gpt import TinyGPT, token_columns

import tinygrad_scalar as ts

torch = pytest.importorskip("torch")
distributed = pytest.importorskip("torch.distributed")

WORLD_SIZE, STEPS, BATCH, LENGTH = 2, 4, 8, 5


def training_batches():
    return [token_columns(BATCH, LENGTH, seed=100 + s)[1] for s in range(STEPS)]


def train(net, batches, rank=0, world_size=1):
    """Adam on the module; each process takes its contiguous share of every batch."""
    adam = torch.optim.Adam(net.parameters(), lr=0.02, betas=(0.85, 0.99))
    share = BATCH // world_size
    for columns in batches:
        adam.zero_grad()
        mine = [column[rank * share : (rank + 1) * share] for column in columns]
        net(*mine).backward()
        adam.step()


def exported_gpt():
    model = TinyGPT(seed=3)
    params = model.parameters()
    example = tuple(column[0] for column in training_batches()[0])
    return params, ts.to_torch(model.loss, params, example)


def ddp_worker(rank: int, port: int, result_path: str) -> None:
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    torch.set_num_threads(1)
    distributed.init_process_group(
        "gloo", rank=rank, world_size=WORLD_SIZE, timeout=datetime.timedelta(seconds=60)
    )
    try:
        params, net = exported_gpt()
        ddp = torch.nn.parallel.DistributedDataParallel(net)
        train(ddp, training_batches(), rank, WORLD_SIZE)
        if rank == 0:
            net.write_back()
            with open(result_path, "w") as file:
                json.dump([p.data for p in params], file)
        # rank 1 would otherwise leave the group while rank 0 still writes; gloo has
        # aborted a process that did (SIGABRT at exit, seen once in CI)
        distributed.barrier()
    finally:
        distributed.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(not distributed.is_available(), reason="this torch has no torch.distributed")
def test_two_processes_under_ddp_train_the_gpt_as_one_process_on_the_whole_batch(tmp_path):
    params, net = exported_gpt()
    start = [p.data for p in params]
    train(net, training_batches())
    net.write_back()
    alone = [p.data for p in params]
    assert alone != start

    result = tmp_path / "ddp_weights.json"
    torch.multiprocessing.spawn(
        ddp_worker, args=(free_port(), str(result)), nprocs=WORLD_SIZE, join=True
    )
    with open(result) as file:
        distributed_weights = json.load(file)
    assert len(distributed_weights) == len(alone)
    assert_agree(distributed_weights, alone, "weight after DDP training")


@pytest.mark.slow
@pytest.mark.skipif(not distributed.is_available(), reason="this torch has no torch.distributed")
def test_the_readmes_ddp_example_prints_the_accuracy_it_states(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    (block,) = [
        b
        for b in re.findall(r"```python\n(.*?)```", readme, re.S)
        if "DistributedDataParallel" in b
    ]
    stated = re.search(r"print\(train\.accuracy\(model, X, y\)\)  # (\S+)", block).group(1)
    script = tmp_path / "ddp_example.py"
    script.write_text(block, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [stated]
