"""Built-in backbone networks: feature extractors ``x -> z`` (a classifier head is added by strategies)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .registry import register_backbone

__all__ = ["LeNet", "MLP", "SmallResNet", "backbone_blocks"]


@register_backbone("lenet")
class LeNet(nn.Module):
    r"""LeNet-5 style feature extractor for small grey-level images (the digits backbone of CDAN / TLlib).

    conv(C→20, 5×5) → max-pool 2 → ReLU → conv(20→50, 5×5) → dropout → max-pool 2 → ReLU →
    flatten (800 for 28×28 inputs) → linear(→500) → ReLU.

    Parameters
    ----------
    input_shape : tuple of int, default=(1, 28, 28)
        ``(channels, height, width)`` of the inputs; flat inputs ``(n, C*H*W)`` are reshaped.
    out_features : int, default=500
        Feature dimension.
    dropout : float, default=0.5
        Dropout probability after the second convolution (``Dropout2d``).

    Attributes
    ----------
    out_features : int
        Feature dimension.
    input_shape : tuple of int
        Expected input shape (without the batch axis).

    References
    ----------
    .. [1] LeCun, Bottou, Bengio, Haffner. "Gradient-based learning applied to document recognition."
       Proc. IEEE 86(11), 1998.
    .. [2] Long, Cao, Wang, Jordan. "Conditional Adversarial Domain Adaptation." NeurIPS 2018.

    Examples
    --------
    >>> import torch
    >>> net = LeNet()
    >>> net(torch.zeros(2, 784)).shape
    torch.Size([2, 500])
    """

    def __init__(self, input_shape: Sequence[int] = (1, 28, 28), out_features: int = 500, dropout: float = 0.5):
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"LeNet: input_shape must be (channels, height, width), got {tuple(input_shape)!r}.")
        c, h, w = (int(v) for v in input_shape)
        fh, fw = ((h - 4) // 2 - 4) // 2, ((w - 4) // 2 - 4) // 2
        if fh < 1 or fw < 1:
            raise ValueError(f"LeNet: input_shape {tuple(input_shape)!r} is too small; height and width must be >= 16.")
        self.input_shape = (c, h, w)
        self.out_features = int(out_features)
        self.conv = nn.Sequential(
            nn.Conv2d(c, 20, kernel_size=5),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Conv2d(20, 50, kernel_size=5),
            nn.Dropout2d(p=dropout),
            nn.MaxPool2d(2),
            nn.ReLU(),
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(50 * fh * fw, self.out_features), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x.reshape(-1, *self.input_shape)))


_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU}


@register_backbone("mlp")
class MLP(nn.Module):
    """Multi-layer perceptron feature extractor: ``[linear → activation → dropout] × len(hidden)``.

    Parameters
    ----------
    input_shape : tuple of int, default=(784,)
        Shape of one input; inputs are flattened, so ``in_features = prod(input_shape)``.
    hidden : sequence of int, default=(500, 500)
        Width of each hidden layer; the last one is the feature dimension.
    activation : {"relu", "tanh", "gelu", "sigmoid", "leaky_relu"}, default="relu"
        Non-linearity after each layer.
    dropout : float, default=0.0
        Dropout probability after each activation.

    Examples
    --------
    >>> import torch
    >>> MLP(input_shape=(10,), hidden=(8, 4))(torch.zeros(3, 10)).shape
    torch.Size([3, 4])
    """

    def __init__(
        self,
        input_shape: Sequence[int] = (784,),
        hidden: Sequence[int] = (500, 500),
        activation: str = "relu",
        dropout: float = 0.0,
    ):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"MLP: activation={activation!r} is not supported; use one of {sorted(_ACTIVATIONS)}.")
        if len(hidden) == 0:
            raise ValueError("MLP: hidden must list at least one layer width, e.g. hidden=(500,).")
        self.input_shape = tuple(int(v) for v in input_shape)
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(self.input_shape)
        for h in hidden:
            layers += [nn.Linear(width, int(h)), _ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = int(h)
        self.out_features = width
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(x.shape[0], -1))


class _BasicBlock(nn.Module):
    """Two 3×3 convolutions with batch-norm and an identity (or 1×1 projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = (
            nn.Identity()
            if stride == 1 and c_in == c_out
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


@register_backbone("resnet_small")
class SmallResNet(nn.Module):
    r"""A small residual network for low-resolution images (He et al. 2016, the CIFAR-style ResNet).

    conv(C→w, 3×3) → BN → ReLU → 3 stages of ``blocks_per_stage`` basic blocks with widths ``w, 2w,
    4w`` (stride 2 at the start of stages 2 and 3) → global average pooling. With
    ``blocks_per_stage=1`` it is a ResNet-8, with 3 the ResNet-20 of the paper's CIFAR experiments.
    Its batch-norm layers make it a natural backbone for AdaBN.

    Parameters
    ----------
    input_shape : tuple of int, default=(1, 28, 28)
        ``(channels, height, width)``; flat rows are reshaped.
    width : int, default=16
        Channels of the first stage.
    blocks_per_stage : int, default=1
        Basic blocks per stage.

    Attributes
    ----------
    out_features : int
        ``4 * width``.

    References
    ----------
    .. [1] He, Zhang, Ren, Sun. "Deep Residual Learning for Image Recognition." CVPR 2016.

    Examples
    --------
    >>> import torch
    >>> SmallResNet(input_shape=(1, 28, 28))(torch.zeros(2, 784)).shape
    torch.Size([2, 64])
    """

    def __init__(self, input_shape: Sequence[int] = (1, 28, 28), width: int = 16, blocks_per_stage: int = 1):
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"SmallResNet: input_shape must be (channels, height, width), got {tuple(input_shape)!r}.")
        if int(width) < 1 or int(blocks_per_stage) < 1:
            raise ValueError(f"SmallResNet: width and blocks_per_stage must be >= 1, got {width!r}, {blocks_per_stage!r}.")
        self.input_shape = tuple(int(v) for v in input_shape)
        w = int(width)
        layers: list[nn.Module] = [
            nn.Conv2d(self.input_shape[0], w, 3, padding=1, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(),
        ]
        c = w
        for stage, c_out in enumerate((w, 2 * w, 4 * w)):
            for b in range(int(blocks_per_stage)):
                layers.append(_BasicBlock(c, c_out, stride=2 if (stage > 0 and b == 0) else 1))
                c = c_out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.net = nn.Sequential(*layers)
        self.out_features = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(-1, *self.input_shape))


def backbone_blocks(backbone: nn.Module) -> list[nn.Module]:
    """The backbone's blocks from input to output: the units that partial fine-tuning freezes.

    A module with a ``blocks()`` method is asked for them. Otherwise ``nn.Sequential`` and
    ``nn.ModuleList`` containers are opened recursively and every other child that holds parameters is
    one block: LeNet gives ``[conv1, conv2, fc]``, an :class:`MLP` its linear layers, a
    :class:`SmallResNet` its stem convolution, stem batch-norm and residual blocks.

    Parameters
    ----------
    backbone : torch.nn.Module
        Feature extractor.

    Returns
    -------
    list of torch.nn.Module
        In forward order; every parameter of ``backbone`` belongs to exactly one block.

    Raises
    ------
    ValueError
        If ``backbone`` has no parameters, or the blocks found miss some of its parameters (the module
        keeps parameters outside its children: give it a ``blocks()`` method).

    Examples
    --------
    >>> [type(b).__name__ for b in backbone_blocks(LeNet())]
    ['Conv2d', 'Conv2d', 'Linear']
    """
    if callable(getattr(backbone, "blocks", None)):
        blocks = list(backbone.blocks())
    else:
        blocks = []

        def walk(module: nn.Module) -> None:
            for child in module.children():
                if isinstance(child, (nn.Sequential, nn.ModuleList)):
                    walk(child)
                elif any(True for _ in child.parameters()):
                    blocks.append(child)

        walk(backbone)
    n_all = sum(1 for _ in backbone.parameters())
    if n_all == 0:
        raise ValueError(f"backbone_blocks: {type(backbone).__name__} has no parameters; there is nothing to freeze.")
    covered = {id(p) for b in blocks for p in b.parameters()}
    if len(covered) != n_all:
        raise ValueError(
            f"backbone_blocks: {type(backbone).__name__} holds {n_all - len(covered)} parameter tensors outside its "
            "child modules; give the module a blocks() method that lists its blocks in forward order."
        )
    return blocks
