"""Training options in one place, with the checks that give a user-facing message."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import ConfigError

BALANCE_CHOICES = ("weighted-loss", "sampler", "none")


@dataclass
class TrainConfig:
    """Everything `facexp train` can be told; defaults are what a newcomer should get."""

    arch: str = "efficientnet_lite0"
    size: int = 64
    epochs: int = 5
    bs: int = 64
    lr: float | None = None  # None: use lr_find's suggestion
    valid_pct: float = 0.2
    seed: int = 42
    classes: list[str] | None = None
    grayscale: bool | None = None  # None: decide from the data
    balance: str = "weighted-loss"
    pretrained: bool = True
    init_from: str | None = None  # a bundle directory, or "default" for the shipped model
    # Frozen-body epochs before unfreezing. Default 0: on FER2013 (gray 48px faces, far from
    # ImageNet) a one-cycle run of the whole network reached 59% on a 2,000-image subset where
    # fastai's fine_tune (1 frozen epoch, discriminative lrs) reached 45% in the same time.
    freeze_epochs: int = 0
    label_smoothing: float = 0.1
    augment: bool = True
    # MixUp's Beta(alpha, alpha) parameter; 0 is off. Blending pairs of images and their labels is a
    # regulariser for long runs on noisy labels, where plain training memorises them.
    mixup: float = 0.0
    save_pickle: bool = False
    faces: dict | None = None  # face settings when training on detected face crops
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        checks = [
            (self.size >= 16, f"--size must be at least 16; got {self.size}"),
            (self.epochs >= 1, f"--epochs must be at least 1; got {self.epochs}"),
            (self.bs >= 1, f"--bs must be at least 1; got {self.bs}"),
            (self.lr is None or self.lr > 0, f"--lr must be positive; got {self.lr}"),
            (0 < self.valid_pct < 1, f"--valid-pct must be between 0 and 1; got {self.valid_pct}"),
            (self.balance in BALANCE_CHOICES, f"--balance must be one of {BALANCE_CHOICES}; got {self.balance!r}"),
            (0 <= self.label_smoothing < 1, f"--label-smoothing must be in [0, 1); got {self.label_smoothing}"),
            (self.mixup >= 0, f"--mixup must be 0 (off) or positive; got {self.mixup}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def to_dict(self) -> dict:
        return asdict(self)
