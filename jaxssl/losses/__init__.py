"""Pure loss functions on global arrays; each docstring gives the formula and the paper."""

from jaxssl.losses.contrastive import l2_normalize, nt_xent
from jaxssl.losses.regression import byol_loss

__all__ = ["byol_loss", "l2_normalize", "nt_xent"]
