"""Training options in one place, with the checks that give a user-facing message."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import ConfigError

BALANCE_CHOICES = ("weighted-loss", "sampler", "none")


@dataclass
class TrainConfig:
    """Everything `facexp train` can be told; defaults are what a newcomer should get."""

    arch: str = "efficientnet_lite0"
    size: int | None = None  # None: 64, or the --from model's input size
    epochs: int | None = None  # None: 5, more on small data (see facexp.train.fit.auto_schedule)
    bs: int | None = None  # None: 64, smaller on small data so an epoch has several steps
    lr: float | None = None  # None: lr_find's suggestion within [LR_FLOOR, LR_CEILING], or a fallback
    valid_pct: float = 0.2
    seed: int = 42
    classes: list[str] | None = None
    grayscale: bool | None = None  # None: decide from the data
    balance: str = "weighted-loss"
    pretrained: bool = True
    # "auto": the shipped model when it knows most class names (see facexp.train.start), else ImageNet;
    # "imagenet" (or None), "default" (the shipped model), or a bundle directory.
    init_from: str | None = "auto"
    # Frozen-body epochs before unfreezing (then discriminative learning rates, as fastai's
    # fine_tune). None: chosen by data size (auto_schedule): 0 above SMALL_DATA training images,
    # where on FER2013 (gray 48px faces, far from ImageNet) a one-cycle run of the whole network
    # reached 59% on a 2,000-image subset where fastai's fine_tune (1 frozen epoch) reached 45% in
    # the same time; a few frozen epochs on small data and whenever starting from a facexp model.
    freeze_epochs: int | None = None
    # Early stopping: stop after this many epochs without a better validation accuracy (None: auto).
    patience: int | None = None
    label_smoothing: float = 0.1
    augment: bool = True
    # MixUp's Beta(alpha, alpha) parameter; 0 is off. Blending pairs of images and their labels is a
    # regulariser for long runs on noisy labels, where plain training memorises them.
    mixup: float = 0.0
    save_pickle: bool = False
    faces: dict | None = None  # face settings when training on detected face crops
    # A test split for `facexp evaluate RUN`, written as RUN/test.csv: the rows the data marks
    # split=test, else ``test`` (a folder or CSV), else this fraction of each class (0: none; the
    # CLI's default is 0.1, the API's 0 so recipes with their own splits keep every image).
    test_pct: float = 0.0
    test: str | None = None
    extra: dict = field(default_factory=dict)
    # Continue the interrupted run in the same run directory (facexp.train.resume), same data and options.
    resume: bool = False

    def __post_init__(self):
        checks = [
            (self.size is None or self.size >= 16, f"--size must be at least 16; got {self.size}"),
            (self.epochs is None or self.epochs >= 1, f"--epochs must be at least 1; got {self.epochs}"),
            (self.bs is None or self.bs >= 1, f"--bs must be at least 1; got {self.bs}"),
            (self.freeze_epochs is None or self.freeze_epochs >= 0,
             f"--freeze-epochs must be 0 or more; got {self.freeze_epochs}"),
            (self.patience is None or self.patience >= 1, f"--patience must be at least 1; got {self.patience}"),
            (self.lr is None or self.lr > 0, f"--lr must be positive; got {self.lr}"),
            (0 < self.valid_pct < 1, f"--valid-pct must be between 0 and 1; got {self.valid_pct}"),
            (self.balance in BALANCE_CHOICES, f"--balance must be one of {BALANCE_CHOICES}; got {self.balance!r}"),
            (0 <= self.label_smoothing < 1, f"--label-smoothing must be in [0, 1); got {self.label_smoothing}"),
            (self.mixup >= 0, f"--mixup must be 0 (off) or positive; got {self.mixup}"),
            (0 <= self.test_pct < 1, f"--test-pct must be in [0, 1); got {self.test_pct}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def to_dict(self) -> dict:
        return asdict(self)
