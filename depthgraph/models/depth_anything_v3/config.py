"""DA3 network configuration as plain data (small, base, and a tiny one for fast tests)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class DA3Config:
    """Shape of one Depth Anything 3 network (monocular path only).

    ``out_layers`` must be "global" blocks (odd, at or after ``special_start``) so that the
    block before each is a local one, as in the official layout.
    """

    variant: str = "small"
    embed_dim: int = 384
    depth: int = 12
    num_heads: int = 6
    mlp_ratio: float = 4.0
    patch_size: int = 14
    pos_grid: int = 37  # pos_embed holds a 37x37 patch grid (518 px) plus the cls entry
    special_start: int = 4  # RoPE, QK-norm, alternating attention, camera token from here on
    out_layers: tuple[int, ...] = (5, 7, 9, 11)
    rope_base: float = 100.0
    head_features: int = 64
    head_channels: tuple[int, ...] = (48, 96, 192, 384)
    pos_embed_ratio: float = 0.1  # scale of the head's UV position embedding
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    @property
    def cam_dim(self) -> int:
        """Width of the camera decoder (= the 2D concatenated feature)."""
        return 2 * self.embed_dim

    @classmethod
    def small(cls) -> "DA3Config":
        """DA3-SMALL: ViT-S/14, DualDPT with 64 features."""
        return cls()

    @classmethod
    def base(cls) -> "DA3Config":
        """DA3-BASE: ViT-B/14, DualDPT with 128 features."""
        return cls(
            variant="base",
            embed_dim=768,
            num_heads=12,
            head_features=128,
            head_channels=(96, 192, 384, 768),
        )

    @classmethod
    def tiny(cls) -> "DA3Config":
        """A very small network with the same structure, for fast tests of shapes and batching."""
        return cls(
            variant="tiny",
            embed_dim=64,
            num_heads=1,
            head_features=16,
            head_channels=(8, 16, 32, 64),
        )

    @classmethod
    def for_variant(cls, variant: str) -> "DA3Config":
        """The config of ``"small"``, ``"base"`` or ``"tiny"``."""
        try:
            return {"small": cls.small, "base": cls.base, "tiny": cls.tiny}[variant]()
        except KeyError:
            raise ValueError(f"unknown DA3 variant {variant!r}; known: 'small', 'base', 'tiny'") from None

    def to_dict(self) -> dict:
        """Plain-data form (JSON-serialisable)."""
        data = asdict(self)
        data.pop("extra")
        return data
