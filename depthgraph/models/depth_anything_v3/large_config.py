"""Configuration of the single-image DA3 LARGE networks (DA3METRIC-LARGE, DA3MONO-LARGE) as data.

Both checkpoints share one architecture (spec ``da3-metric.md`` section 1): a plain DINOv2
ViT-L/14 and a plain DPT head with a sky branch. They differ only in what the depth number means,
which is the ``metric`` flag here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: canonical variant -> (metric or not, official preset name, weights folder / hub repo name)
LARGE_VARIANTS: dict[str, tuple[bool, str, str]] = {
    "metric-large": (True, "da3metric-large", "DA3METRIC-LARGE"),
    "mono-large": (False, "da3mono-large", "DA3MONO-LARGE"),
}


@dataclass(frozen=True)
class LargeConfig:
    """Shape of one plain-ViT + DPT + sky network.

    ``metric`` says whether the depth output is canonical metric depth (metres x 300 / focal,
    DA3METRIC-LARGE) or relative depth (DA3MONO-LARGE); the module tree is the same.
    """

    variant: str = "metric-large"
    metric: bool = True
    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    mlp_ratio: float = 4.0
    patch_size: int = 14
    pos_grid: int = 37  # pos_embed holds a 37x37 patch grid (518 px) plus the cls entry
    out_layers: tuple[int, ...] = (4, 11, 17, 23)
    head_features: int = 256
    head_channels: tuple[int, ...] = (256, 512, 1024, 1024)

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    @classmethod
    def metric_large(cls) -> "LargeConfig":
        """DA3METRIC-LARGE: depth in canonical metric units (metres x 300 / focal)."""
        return cls()

    @classmethod
    def mono_large(cls) -> "LargeConfig":
        """DA3MONO-LARGE: relative depth (larger = farther, unknown scale)."""
        return cls(variant="mono-large", metric=False)

    @classmethod
    def tiny(cls, metric: bool = True) -> "LargeConfig":
        """A very small network with the same structure, for fast tests."""
        return cls(
            variant="tiny-metric" if metric else "tiny-mono",
            metric=metric,
            embed_dim=64,
            depth=4,
            num_heads=2,
            out_layers=(0, 1, 2, 3),
            head_features=16,
            head_channels=(8, 16, 32, 32),
        )

    @classmethod
    def for_variant(cls, variant: str) -> "LargeConfig":
        """The config of ``"metric-large"`` or ``"mono-large"``."""
        if variant == "metric-large":
            return cls.metric_large()
        if variant == "mono-large":
            return cls.mono_large()
        raise ValueError(f"unknown DA3 large variant {variant!r}; known: 'metric-large', 'mono-large'")

    def to_dict(self) -> dict:
        """Plain-data form (JSON-serialisable)."""
        return asdict(self)
