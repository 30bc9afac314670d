r"""Parameters, forward FLOPs per image and training images/s of backbones at one input size.

  python -m benchmarks.backbones --image_size=28 --channels=1 --batch=256 \
      --backbones=lenet5,alexnet,vgg11,mobilenet_v2,resnet10,resnet18

Prints one JSON line per backbone (with the family's default options for the CIFAR stem): its parameter count,
the forward FLOPs per image that XLA's cost analysis counts for the compiled inference pass, and the images
per second of a jitted forward+backward in training mode (BatchNorm statistics, dropout) at `batch`.
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import emit, seconds_per_call
from configs import common
from jaxssl import models


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbones", default="lenet5,alexnet,vgg11,mobilenet_v2,resnet10,resnet18")
    parser.add_argument("--image_size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    images = jax.random.uniform(
        jax.random.key(0), (args.batch, args.image_size, args.image_size, args.channels)
    )
    for name in args.backbones.split(","):
        options = {
            k: v for k, v in common.model_block(name, "cifar10", args.image_size).items() if k != "backbone"
        }
        backbone = models.make_backbone(name, **options)
        variables = backbone.init(jax.random.key(1), images[:2], train=False)
        forward = jax.jit(lambda v, x, b=backbone: b.apply(v, x, train=False))
        flops = forward.lower(variables, images).compile().cost_analysis()["flops"]

        def train_loss(params, x, b=backbone, state=variables):
            out, _ = b.apply(
                {**state, "params": params},
                x,
                train=True,
                mutable=["batch_stats"],
                rngs={"dropout": jax.random.key(2)},
            )
            return jnp.mean(out)

        grad = jax.jit(jax.grad(train_loss))
        seconds = seconds_per_call(grad, variables["params"], images, repeats=args.repeats)
        emit(
            {
                "benchmark": "backbones",
                "backbone": name,
                "options": options,
                "image": [args.image_size, args.image_size, args.channels],
                "params": int(sum(np.prod(leaf.shape) for leaf in jax.tree.leaves(variables["params"]))),
                "forward_mflops_per_image": round(flops / args.batch / 1e6, 2),
                "train_images_per_s": round(args.batch / seconds, 1),
                "batch": args.batch,
                "platform": jax.devices()[0].platform,
            }
        )


if __name__ == "__main__":
    main()
