"""The sizes of a GPU check: the lease's and the test suite's tiny one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """The sizes of one check: the lease's (:data:`GPU`) or the test suite's (:data:`TINY`)."""

    name: str
    trainer: str  # the trainer config of the single-process steps
    img_size: int  # throughput's image size
    batch_size: int  # throughput's batch
    workers: int  # loader workers of a single run
    warmup: int
    steps: int
    loader_batches: int
    budgets: dict[str, float]  # seconds per step
    ddp_trainer: str
    ddp_devices: int | None  # None: every GPU
    sweep_epochs: int
    jobs: int | None  # None: as many as fit
    scales: tuple[str, ...] = ("n", "s")
    precisions: tuple[str, ...] = ("bf16-mixed", "32-true")  # in this order: fp32 only if time allows
    fit_epochs: int = 2
    ddp_epochs: int = 2
    sweep_precision: str = "32-true"  # the study's: its numbers must not depend on the machine
    eval_reserve_s: float = 20  # of the fit's budget, kept for the evaluation
    grace_s: float = 20  # past a step's budget, an alarm stops a step that did not end itself in time
    run_overrides: tuple[str, ...] = ()  # for the fit, DDP and sweep runs
    synthetic: tuple[str, ...] = ()  # the synthetic set's size, when there is no --data-root


# 430 s of budgets: with the start, under the 8 minutes a 15-minute lease can spare
GPU = Plan(name="gpu", trainer="gpu", img_size=640, batch_size=32, workers=10, warmup=10, steps=40,
           loader_batches=30, budgets={"throughput": 140, "fit": 100, "ddp": 70, "sweep": 120},
           ddp_trainer="ddp", ddp_devices=None, sweep_epochs=2, jobs=None)
# about a minute on 2 idle cores; the budgets only catch a hang (a shared machine can be many times slower)
TINY = Plan(name="tiny", trainer="cpu", img_size=64, batch_size=4, workers=0, warmup=1, steps=2, loader_batches=2,
            budgets={"throughput": 900, "fit": 900, "ddp": 900, "sweep": 900}, ddp_trainer="ddp_cpu",
            ddp_devices=2, sweep_epochs=1, jobs=2,
            run_overrides=("data.img_size=64", "data.batch_size=8", "trainer.log_every_n_steps=1"),
            synthetic=("data.synthetic.num_train=16", "data.synthetic.num_val=8", "data.synthetic.image_size=64"))
