"""ImageBank: decode once, pure label colours after resize, crops / flips from the caller's
generator (same on both halves of a pair, independent for unpaired draws), resumable."""
from __future__ import annotations

import pytest
import torch

from trainer.data import ImageBank, open_split, toy_root
from trainer.data.palette import PALETTE

L, S = 20, 8  # load size, crop size


def _position_bank(n: int = 3) -> ImageBank:
    """Pixel (y, x) of image k holds (y, x, k) in both A and B (B scaled by 2)."""
    y, x = torch.meshgrid(torch.arange(L), torch.arange(L), indexing="ij")
    a = torch.stack([torch.stack([y, x, torch.full_like(y, k)]) for k in range(n)]).to(torch.uint8)
    return ImageBank(a, a * 2, range(n), [str(k) for k in range(n)], [None] * n)


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return ((x + 1) * 127.5).round().to(torch.int64)


def test_paired_crop_flip_is_a_window_shared_by_both_halves():
    bank, g = _position_bank(), torch.Generator().manual_seed(3)
    idx = torch.tensor([2, 0, 2, 1, 1, 0])
    a, b = bank.paired(idx, S, g)
    assert a.shape == b.shape == (6, 3, S, S) and a.dtype == torch.float32
    a, b = _to_uint8(a), _to_uint8(b)
    assert torch.equal(b, 2 * a)                           # the same crop and flip on A and B
    assert torch.equal(a[:, 2, 0, 0], idx)                 # the rows asked for
    rows, cols = a[:, 0, :, 0], a[:, 1, 0, :]
    assert torch.equal(rows - rows[:, :1], torch.arange(S).expand(6, S))  # contiguous rows
    step = cols[:, 1] - cols[:, 0]
    assert set(step.tolist()) == {-1, 1}                   # some flipped, some not (seed 3)
    assert torch.equal(cols - cols[:, :1], step[:, None] * torch.arange(S))
    assert rows.min() >= 0 and rows.max() < L and cols.min() >= 0 and cols.max() < L


def test_unpaired_draws_are_independent_and_b_may_come_from_another_bank():
    bank, g = _position_bank(), torch.Generator().manual_seed(0)
    idx = torch.zeros(16, dtype=torch.long)
    a, b = bank.unpaired(idx, idx, S, g)
    assert not torch.equal(2 * _to_uint8(a), _to_uint8(b))  # same rows, different crops
    other = ImageBank(None, torch.full((2, 3, L, L), 255, dtype=torch.uint8), [0, 1], ["p", "q"],
                      [None, None])
    a, b = bank.unpaired(idx[:2], torch.tensor([1, 0]), S, g, b_bank=other)
    assert torch.equal(b, torch.ones(2, 3, S, S)) and _to_uint8(a)[:, 2].eq(0).all()
    with pytest.raises(ValueError, match="no A images"):
        other.paired(torch.tensor([0]), S, g)


def test_generator_state_resumes_bit_for_bit():
    bank = _position_bank()
    g = torch.Generator().manual_seed(11)
    bank.paired(bank.draw(2, g), S, g)
    state = g.get_state()
    first = bank.paired(bank.draw(4, g), S, g)
    g2 = torch.Generator()
    g2.set_state(state)
    again = bank.paired(bank.draw(4, g2), S, g2)
    assert all(torch.equal(x, y) for x, y in zip(first, again))
    with pytest.raises(ValueError, match="crop size"):
        bank.paired(bank.draw(1, g), L + 1, g)


def test_from_reader_keeps_label_colours_pure_and_values_in_range():
    reader = open_split("toy-streets", "val", root=toy_root("toy-streets", "small"))
    bank = ImageBank.from_reader(reader, load_size=40, indices=[3, 1, 4])
    assert bank.a.shape == bank.b.shape == (3, 3, 40, 40) and bank.b.dtype == torch.uint8
    assert bank.indices == [3, 1, 4] and bank.stems == [reader.stems[i] for i in (3, 1, 4)]
    assert bank.archetypes == [reader.archetypes[i] for i in (3, 1, 4)]
    colours = {tuple(c) for c in bank.b.permute(0, 2, 3, 1).reshape(-1, 3).tolist()}
    assert colours <= {tuple(c) for c in PALETTE.tolist()} | {(0, 0, 0)}  # NEAREST: no blends
    photo = torch.from_numpy(reader[1].a).permute(2, 0, 1).float()
    assert abs(bank.a[1].float().mean() - photo.mean()) < 2      # bilinear keeps the brightness
    x, y = bank.paired(torch.tensor([0, 2]), 32, torch.Generator().manual_seed(0))
    assert x.min() >= -1 and x.max() <= 1
    # B values are palette channels mapped to [-1, 1]: 0 -> -1, 70 -> 70 / 127.5 - 1, ...
    allowed = {round(v / 127.5 - 1, 5) for v in set(PALETTE.ravel().tolist()) | {0}}
    assert {round(v, 5) for v in y.unique().tolist()} <= allowed


def test_slice_and_gather_paths_give_the_same_pixels():
    """CPU generators slice per sample, device generators gather: same draws, same crops."""
    from trainer.data.bank import _crop_gather, _crop_views
    bank, g = _position_bank(4), torch.Generator().manual_seed(5)
    idx = torch.tensor([3, 0, 1, 3, 2])
    offsets = bank._offsets(len(idx), S, g)
    assert torch.equal(_crop_views(bank.a, idx, *offsets, S), _crop_gather(bank.a, idx, *offsets, S))
    x_list, _ = bank.paired([3, 0], S, torch.Generator().manual_seed(1))  # a list of rows works too
    x_tensor, _ = bank.paired(torch.tensor([3, 0]), S, torch.Generator().manual_seed(1))
    assert torch.equal(x_list, x_tensor)


def test_rows_on_the_bank_device_use_index_select():
    """Row tensors that live with the bank are first copied out with index_select (no sync on a
    GPU); the crops are the same as slicing rows by Python ints."""
    from trainer.data.bank import _crop_views
    bank = _position_bank(4)
    idx, offsets = torch.tensor([2, 1, 2]), bank._offsets(3, S, torch.Generator().manual_seed(2))
    by_ints = _crop_views(bank.a, idx, *offsets, S, select_first=False)
    assert torch.equal(_crop_views(bank.a, idx, *offsets, S, select_first=True), by_ints)


@pytest.mark.gpu
@pytest.mark.parametrize("generator_device", ["cpu", "cuda"])
def test_cuda_bank_matches_cpu_bank(generator_device):
    """On a GPU, with a CPU or a CUDA generator and rows on the GPU: the CPU bank's pixels for the
    same draws (the CUDA generator's stream differs from the CPU one, so compare within device)."""
    cpu_bank = _position_bank(4)
    cuda_bank = ImageBank(cpu_bank.a.cuda(), cpu_bank.b.cuda(), range(4), list("0123"), [None] * 4)
    rows = torch.tensor([3, 1], device="cuda")
    g1 = torch.Generator(device=generator_device).manual_seed(4)
    g2 = torch.Generator(device=generator_device).manual_seed(4)
    a, b = cuda_bank.paired(rows, S, g1)
    offsets = cpu_bank._offsets(2, S, g2)
    expect = _to_uint8(cpu_bank._crop(cpu_bank.a, rows.cpu(), [o.cpu() for o in offsets], S))
    assert a.is_cuda and torch.equal(_to_uint8(a).cpu(), expect)
