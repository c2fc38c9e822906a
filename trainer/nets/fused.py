"""K networks of one architecture as one network: grouped convolutions side by side.

Member k of a fused network owns channel block k of every layer: a fused Conv2d has
`groups = K` (times the member's groups) and its weight is the members' weights concatenated
on dim 0, so member k's output channels see only member k's input channels. Instance norm
(no affine parameters, no running statistics), padding and activations act per channel, so
each member computes exactly what it computes alone, and the gradient of a sum of the members'
losses is each member's own gradient. Images of a pack are laid out member-major on the
channels: [N, K*C, H, W], member k at channels [k*C, (k+1)*C).

On 2 CPU cores at the demo's size this measured faster than `torch.func.stack_module_state`
+ `vmap` (see bench/pack_throughput.py --fusion); both are exact.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

# Modules without parameters or state that act per channel (or elementwise): copied as they are.
_PER_CHANNEL = (nn.ReflectionPad2d, nn.ReplicationPad2d, nn.ZeroPad2d, nn.ReLU, nn.LeakyReLU,
                nn.Tanh, nn.Sigmoid, nn.Identity)


class FusionError(ValueError):
    """A network with a layer that cannot be fused exactly (e.g. batch norm's running stats)."""


def fuse(nets: list[nn.Module]) -> nn.Module:
    """One module computing the K `nets` side by side: [N, K*C_in, H, W] -> [N, K*C_out, h, w].
    Its parameters are fresh tensors holding the members' values (see `link_members`)."""
    first = nets[0]
    if isinstance(first, nn.Conv2d):
        return _fuse_conv(nets, len(nets))
    if isinstance(first, nn.ConvTranspose2d):
        return _fuse_transposed(nets, len(nets))
    if isinstance(first, nn.InstanceNorm2d):
        if first.affine or first.track_running_stats:
            raise FusionError(f"{first} has affine parameters or running statistics")
        return nn.InstanceNorm2d(first.num_features * len(nets), eps=first.eps)
    if isinstance(first, _PER_CHANNEL):
        return copy.deepcopy(first)
    children = dict(first.named_children())
    if not children or any(True for _ in first.parameters(recurse=False)) or list(first.buffers(
            recurse=False)):
        raise FusionError(f"cannot fuse a {type(first).__name__} layer")
    fused = copy.copy(first)            # the container's forward (e.g. a residual block)
    fused._parameters, fused._buffers = {}, {}
    fused._modules = {name: fuse([getattr(net, name) for net in nets]) for name in children}
    return fused


def _fuse_conv(convs: list[nn.Conv2d], k: int) -> nn.Conv2d:
    c = convs[0]
    if c.padding_mode != "zeros":
        raise FusionError(f"{c}: padding_mode {c.padding_mode!r}")
    fused = nn.Conv2d(c.in_channels * k, c.out_channels * k, c.kernel_size, c.stride, c.padding,
                      c.dilation, c.groups * k, c.bias is not None, device=c.weight.device,
                      dtype=c.weight.dtype)
    _stack_into(fused, convs)
    return fused


def _fuse_transposed(convs: list[nn.ConvTranspose2d], k: int) -> nn.ConvTranspose2d:
    c = convs[0]    # weight [C_in, C_out / groups, kh, kw]: dim 0 is the input channels
    fused = nn.ConvTranspose2d(c.in_channels * k, c.out_channels * k, c.kernel_size, c.stride,
                               c.padding, c.output_padding, c.groups * k, c.bias is not None,
                               c.dilation, device=c.weight.device, dtype=c.weight.dtype)
    _stack_into(fused, convs)
    return fused


@torch.no_grad()
def _stack_into(fused: nn.Module, members: list[nn.Module]) -> None:
    fused.weight.copy_(torch.cat([m.weight for m in members]))
    if fused.bias is not None:
        fused.bias.copy_(torch.cat([m.bias for m in members]))


def member_slices(fused: nn.Module, k: int, count: int) -> list[torch.Tensor]:
    """Member k's block of every parameter of `fused` (dim 0), in parameter order; views."""
    return [p.detach().chunk(count)[k] for p in fused.parameters()]


def link_members(fused: nn.Module, nets: list[nn.Module]) -> None:
    """Make every member network's parameters views of its block of the fused parameters, so
    the members always show the pack's current weights (for evaluation, checkpoints)
    without copies. Call after the fused network is on its final device and memory format."""
    for k, net in enumerate(nets):
        params = list(net.parameters())
        slices = member_slices(fused, k, len(nets))
        if [p.shape for p in params] != [s.shape for s in slices]:
            raise FusionError("member and fused parameters do not line up")
        for param, view in zip(params, slices):
            param.data = view
