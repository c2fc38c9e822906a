"""Training steps per second: fewpair's step against a plain reference-style step, same run.

reference  the released-code style: every step decodes its two images from disk (the dataset
           reader, PIL), transforms them with PIL (resize to the load size, random crop, flip,
           ToTensor, Normalize) and copies them to the device; six separate generator
           forwards, separate real / fake discriminator forwards, a Python image pool, and
           unfused per-parameter Adam (foreach=False).
fewpair    the trainer's own loop (trainer.run.loop.step_through) and step (trainer.step.paper,
           K = 1, eager) on a trainer.run.feed bank (decoded once, on the device, crops and
           flips as tensor ops), batched forwards, fused Adam on CUDA (foreach on the CPU),
           losses checked every 25 steps without a per-step sync.

Both train the same networks (trainer.nets.networks) on the same toy-streets files, unpaired steps
(adversarial rsgan + cycle + identity), batch 1. Rounds alternate between the two so a busy
machine slows both alike. Defaults: on the CPU a small size (64^2, ngf 16, 3 blocks); on CUDA
the paper's (256^2, ngf 64, 9 blocks), plus fewpair in bf16.

    .venv/bin/python bench/step_throughput.py [--device cpu|cuda] [--steps N] [--rounds R]
"""
from __future__ import annotations

import argparse
import itertools
import random
import time

import torch
import torch.nn.functional as nnf
from PIL import Image
from torchvision import transforms

from trainer.core.config import TrialConfig
from trainer.data import open_split
from trainer.nets.networks import build_discriminator, build_generator
from trainer.run.feed import build_feed
from trainer.run.loop import step_through
from trainer.run.schedule import StepPlan
from trainer.step.build import make_step
from trainer.step.state import StepRules, build_state
from trainer.step.watch import LossWatch

WATCH_EVERY = 25   # as trainer.train: one loss flush (GPU sync) per 25 steps
POOL_SIZE = 50     # CycleGAN's image pool
POOL_INDICES = list(range(100))  # the unpaired pool: the first 100 toy-streets training images


class ReferenceTrainer:
    """A plain CycleGAN-style unpaired step, written the way the released code is."""

    def __init__(self, cfg: TrialConfig, device: torch.device):
        init = torch.Generator().manual_seed(cfg.seed)
        self.device = device
        self.G, self.F = (build_generator("resnet", init, ngf=cfg.ngf, n_blocks=cfg.n_blocks)
                          .to(device) for _ in range(2))
        self.D_B, self.D_A = (build_discriminator("patchgan", init, ndf=cfg.ndf).to(device)
                              for _ in range(2))
        adam = dict(lr=cfg.lr, betas=(cfg.beta1, 0.999), foreach=False, fused=False)
        self.opt_G = torch.optim.Adam(itertools.chain(self.G.parameters(), self.F.parameters()), **adam)
        self.opt_D = torch.optim.Adam(itertools.chain(self.D_B.parameters(), self.D_A.parameters()), **adam)
        self.pool_A, self.pool_B = [], []
        self.reader = open_split(cfg.dataset, "train", cfg.data_root)
        self.transform = transforms.Compose([
            transforms.Resize((cfg.load_size, cfg.load_size), Image.BICUBIC),
            transforms.RandomCrop(cfg.image_size), transforms.RandomHorizontalFlip(),
            transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.5,) * 3)])

    def load(self):
        a = self.reader[random.choice(POOL_INDICES)].a
        b = self.reader[random.choice(POOL_INDICES)].b
        A = self.transform(Image.fromarray(a)).unsqueeze(0).to(self.device)
        B = self.transform(Image.fromarray(b)).unsqueeze(0).to(self.device)
        return A, B

    @staticmethod
    def query(pool: list, image: torch.Tensor) -> torch.Tensor:
        if len(pool) < POOL_SIZE:
            pool.append(image)
            return image
        if random.uniform(0, 1) > 0.5:
            i = random.randint(0, POOL_SIZE - 1)
            old = pool[i].clone()
            pool[i] = image
            return old
        return image

    @staticmethod
    def rsgan(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = x - y
        return nnf.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))

    def step(self) -> None:
        A, B = self.load()
        fake_B = self.G(A)
        rec_A = self.F(fake_B)
        fake_A = self.F(B)
        rec_B = self.G(fake_A)
        idt_A = self.G(B)
        idt_B = self.F(A)
        for p in itertools.chain(self.D_A.parameters(), self.D_B.parameters()):
            p.requires_grad = False
        self.opt_G.zero_grad()
        loss_G = (self.rsgan(self.D_B(fake_B), self.D_B(B)) + self.rsgan(self.D_A(fake_A), self.D_A(A))
                  + 10 * (nnf.l1_loss(rec_A, A) + nnf.l1_loss(rec_B, B))
                  + 10 * (nnf.l1_loss(idt_A, B) + nnf.l1_loss(idt_B, A)))
        loss_G.backward()
        self.opt_G.step()
        for p in itertools.chain(self.D_A.parameters(), self.D_B.parameters()):
            p.requires_grad = True
        self.opt_D.zero_grad()
        fb = self.query(self.pool_B, fake_B.detach())
        fa = self.query(self.pool_A, fake_A.detach())
        loss_D = (self.rsgan(self.D_B(B), self.D_B(fb.detach()))
                  + self.rsgan(self.D_A(A), self.D_A(fa.detach())))
        loss_D.backward()
        self.opt_D.step()


class FewpairTrainer:
    """The trainer's loop and step for K trials (seeds 0..K-1; K = 1 a trial alone) on one
    shared trainer.run.feed bank, unpaired slots of their StepPlans."""

    def __init__(self, cfg: TrialConfig, device: torch.device, k: int = 1,
                 graphs: bool = False):
        self.feed = build_feed(cfg, [], POOL_INDICES, device)    # read-only, shared
        cfgs = [cfg.replace(seed=m) for m in range(k)]
        self.plans = [StepPlan("unpaired", "interleave", True, 0, self.feed.n_pool,
                               self.feed.n_y, c.seed, total=10 ** 6) for c in cfgs]
        self.step_fn = make_step([build_state(c, device, 10 ** 6) for c in cfgs],
                                 [StepRules.from_config(c, device) for c in cfgs], graphs=graphs)
        self.watch = LossWatch(k)

    def run(self, steps: int) -> None:
        """`steps` steps, the losses checked every WATCH_EVERY as the trainer does."""
        done = self.step_fn.states[0].step
        for until in range(done + WATCH_EVERY, done + steps + WATCH_EVERY, WATCH_EVERY):
            step_through(self.step_fn, [self.feed] * self.step_fn.k, self.plans,
                         min(until, done + steps), self.watch)
            self.flush()

    def flush(self) -> None:
        failed = self.watch.check()
        if failed:
            raise RuntimeError(f"member diverged: {failed}")


def timed(trainer, steps: int, device: torch.device) -> float:
    """Seconds for `steps` steps, the device drained at both ends."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    if hasattr(trainer, "run"):           # the trainer's own loop
        trainer.run(steps)
    else:
        for _ in range(steps):
            trainer.step()
    if hasattr(trainer, "flush"):         # losses recorded on the device: check them too
        trainer.flush()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def add_size_arguments(parser: argparse.ArgumentParser, cpu: tuple[int, int, int]) -> None:
    """--device, --threads and the network sizes; `cpu`: (image size, width, blocks) on the CPU
    (CUDA runs the paper's 256, 64, 9)."""
    size, width, blocks = cpu
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--image-size", type=int, default=None,
                        help=f"crop, px (CPU {size}, CUDA 256)")
    parser.add_argument("--ngf", type=int, default=None, help=f"G and D width (CPU {width}, CUDA 64)")
    parser.add_argument("--n-blocks", type=int, default=None,
                        help=f"residual blocks (CPU {blocks}, CUDA 9)")


def bench_setup(args: argparse.Namespace, cpu: tuple[int, int, int]):
    """(device, cfg): an unpaired paper-shaped TrialConfig at the sizes the flags ask for."""
    size, width, blocks = cpu
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = device.type == "cuda"
    if gpu:
        torch.backends.cudnn.benchmark = True
    size = args.image_size or (256 if gpu else size)
    width = args.ngf or (64 if gpu else width)
    cfg = TrialConfig(mode="unpaired", paired_budget=0, unpaired=100, steps=1, image_size=size,
                      load_size=round(size * 286 / 256), ngf=width, ndf=width,
                      n_blocks=args.n_blocks or (9 if gpu else blocks), device=str(device))
    return device, cfg


CPU_SIZES = (64, 16, 3)   # this bench's CPU case: (image size, width, blocks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed rounds")
    add_size_arguments(parser, CPU_SIZES)
    args = parser.parse_args()
    device, cfg = bench_setup(args, CPU_SIZES)
    gpu = device.type == "cuda"
    steps = args.steps or (100 if gpu else 15)
    name = torch.cuda.get_device_name(device) if gpu else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {name}   {cfg.image_size}x{cfg.image_size}, ngf {cfg.ngf}, {cfg.n_blocks} blocks,"
          f" batch 1, unpaired steps; {args.rounds} rounds x {steps} steps each")
    variants = {"reference": ReferenceTrainer(cfg, device), "fewpair": FewpairTrainer(cfg, device)}
    if gpu:
        variants["fewpair bf16"] = FewpairTrainer(cfg.replace(precision="bf16"), device)
    for trainer in variants.values():                    # warm-up: allocator, cudnn autotune
        timed(trainer, 3 if not gpu else 10, device)
    seconds = dict.fromkeys(variants, 0.0)
    for _ in range(args.rounds):
        for label, trainer in variants.items():
            seconds[label] += timed(trainer, steps, device)
    base = args.rounds * steps / seconds["reference"]
    for label, total in seconds.items():
        rate = args.rounds * steps / total
        print(f"{label:>14}: {rate:8.2f} steps/s   {rate / base:5.2f}x reference")


if __name__ == "__main__":
    main()
