"""RotNet (Gidaris, Singh and Komodakis 2018, "Unsupervised Representation Learning by Predicting Image
Rotations"): which of four quarter turns was applied to an image."""

from jaxssl import losses
from jaxssl.augment import pretext
from jaxssl.methods.forward import dropout_rngs, forward
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.heads import MLP
from jaxssl.models.pretext import PretextNetwork


def make(context: MethodContext, *, head_hidden_dims=()) -> Method:
    """Per step (section 2.2): the four rotations by 0, 90, 180 and 270 degrees of every image of the view go
    through the network as one batch of 4B (the paper's finding: all four at once beat one random rotation
    per image), and a 4-way head on the backbone's features is trained with cross-entropy. The head is a
    linear layer by default (`head_hidden_dims` adds Dense-BN-ReLU layers before it). The online probe reads
    the unrotated rows."""
    network = PretextNetwork(
        backbone=context.backbone,
        head=MLP(hidden_dims=tuple(head_hidden_dims), out_dim=4, dtype=context.dtype),
        image_mean=tuple(context.image_mean),
        image_std=tuple(context.image_std),
    )

    def loss(params, inputs: LossInputs):
        images = inputs.views[0]
        rotated, labels = pretext.rotations(images)
        outputs, batch_stats = forward(
            network,
            {"params": params, "batch_stats": inputs.batch_stats},
            rotated,
            dropout_rngs(inputs.key, 0),
        )
        value, top1 = losses.hard_label_cross_entropy(outputs["logits"], labels)
        return value, LossAux(
            batch_stats=batch_stats,
            metrics={"rotation_ce": value, "rotation_top1": top1},
            features=outputs["features"][: images.shape[0]],
        )

    return Method(name="rotnet", network=network, loss=loss)
