"""The method registry: a name -> make(context, **kwargs) dict literal."""

from jaxssl.methods import (
    barlow_twins,
    byol,
    colorization,
    context_encoder,
    cpc_v2,
    deepcluster_v2,
    denoising_autoencoder,
    dino,
    fixmatch,
    instdisc,
    jigsaw,
    mae,
    moco_v2,
    moco_v3,
    nnclr,
    relative_patch,
    rotnet,
    simclr,
    simmim,
    simsiam,
    swav,
    vicreg,
)
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext

METHODS = {
    "barlow_twins": barlow_twins.make,
    "byol": byol.make,
    "colorization": colorization.make,
    "context_encoder": context_encoder.make,
    "cpc_v2": cpc_v2.make,
    "deepcluster_v2": deepcluster_v2.make,
    "denoising_autoencoder": denoising_autoencoder.make,
    "dino": dino.make,
    "fixmatch": fixmatch.make,
    "instdisc": instdisc.make,
    "jigsaw": jigsaw.make,
    "mae": mae.make,
    "moco_v2": moco_v2.make,
    "moco_v3": moco_v3.make,
    "nnclr": nnclr.make,
    "relative_patch": relative_patch.make,
    "rotnet": rotnet.make,
    "simclr": simclr.make,
    "simmim": simmim.make,
    "simsiam": simsiam.make,
    "swav": swav.make,
    "vicreg": vicreg.make,
}

__all__ = ["METHODS", "LossAux", "LossInputs", "Method", "MethodContext"]
