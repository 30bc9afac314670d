"""The method registry: a name -> make(**kwargs) dict literal."""

from jaxssl.methods import byol, simclr
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext

METHODS = {
    "byol": byol.make,
    "simclr": simclr.make,
}

__all__ = ["METHODS", "LossAux", "LossInputs", "Method", "MethodContext"]
