"""Any features, jaxssl's evaluation: a weighted kNN vote and a linear probe on numpy (N, D) features.

`python examples/evaluate_features.py --micro` scores well-separated synthetic clusters in seconds;
`--features=F.npz` scores your own: an .npz of train_features (N, D), train_labels (N,), test_features (M, D)
and test_labels (M,), as `python examples/simclr_own_loop.py --save-features=F.npz` writes. Train labels below
0 mark unlabelled rows, which both probes leave out.
"""

import argparse

import numpy as np

from jaxssl import probes

SPLITS = ("train_features", "train_labels", "test_features", "test_labels")


def gaussian_clusters(num_train: int, num_test: int, num_classes: int = 10, dim: int = 32, seed: int = 0):
    """Train and test features around one random centre per class, the centres ten times further apart than
    the spread around each: (train_features, train_labels, test_features, test_labels)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 10.0, (num_classes, dim))
    labels = rng.integers(0, num_classes, num_train + num_test)
    features = (centres[labels] + rng.normal(0.0, 1.0, (len(labels), dim))).astype(np.float32)
    return features[:num_train], labels[:num_train], features[num_train:], labels[num_train:]


def main(argv=None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", help="an .npz holding " + ", ".join(SPLITS))
    parser.add_argument(
        "--micro", action="store_true", help="few synthetic examples and probe steps: seconds"
    )
    parser.add_argument("--k", type=int, default=20, help="neighbours in the kNN vote")
    parser.add_argument("--temperature", type=float, default=0.07, help="the kNN vote's temperature")
    parser.add_argument("--l2", type=float, default=1e-4, help="the linear probe's weight penalty")
    args = parser.parse_args(argv)
    if args.features:
        arrays = np.load(args.features)
        train_x, train_y, test_x, test_y = (arrays[name] for name in SPLITS)
    else:
        train_x, train_y, test_x, test_y = gaussian_clusters(*((200, 100) if args.micro else (10000, 2000)))
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    results = {
        "knn_top1": probes.knn_top1(
            train_x, train_y, test_x, test_y, num_classes=num_classes, k=args.k, temperature=args.temperature
        ),
        "linear_top1": probes.linear_probe_top1(
            train_x,
            train_y,
            test_x,
            test_y,
            num_classes=num_classes,
            l2=args.l2,
            steps=30 if args.micro else 500,
        ),
        "effective_rank": probes.effective_rank(test_x),
    }
    for name, value in results.items():
        print(f"{name} {value:.4f}")
    return results


if __name__ == "__main__":
    main()
