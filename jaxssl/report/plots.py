"""PNG figures: a t-SNE of embeddings coloured by class, a gallery of augmented views, ContrastiveCrop's boxes,
training curves.

Pure functions from arrays (or metric lines) to a file; matplotlib's Agg backend, no screen needed. matplotlib
is imported by the first figure drawn, not with this module: the command line imports it through the
evaluation registry, and most commands draw nothing (its import took a second of each start).
"""

import functools
import math
import os

import numpy as np

# (metric key, split, axis title) of each training-curve panel.
CURVES = (
    ("loss", "train", "pretraining loss"),
    ("linear_top1", "eval", "online linear probe top-1"),
    ("knn_top1", "eval", "online kNN top-1"),
    ("classifier_top1", "eval", "own classifier top-1"),
    ("mask_rate", "train", "unlabelled rows above the threshold"),
    ("pseudo_label_top1", "train", "pseudo-label accuracy (hidden labels)"),
    ("effective_rank", "eval", "effective rank (RankMe)"),
)
# A metric that has no value in a line whose other metric is 0: the accuracy of the pseudo-labels where no
# unlabelled row passed the threshold (kept records log it 0 there).
UNDEFINED_WHERE_ZERO = {"pseudo_label_top1": "mask_rate"}


@functools.cache
def pyplot():
    """matplotlib.pyplot on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot

    return matplotlib.pyplot


def _save(figure, path: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    pyplot().close(figure)
    return path


def tsne_embedding(features: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """2-D t-SNE (van der Maaten & Hinton 2008) of L2-normalised features, PCA-initialised, from `seed`."""
    features = np.asarray(features, np.float64)
    features = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    perplexity = min(perplexity, (len(features) - 1) / 3)
    from sklearn.manifold import TSNE  # here: scikit-learn takes 0.8 s to import, and only t-SNE needs it

    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)


def tsne_plot(points: np.ndarray, labels: np.ndarray, path: str, title: str, class_names=()) -> str:
    """Scatter of 2-D points, one colour per class, with a legend naming each class by `class_names` (in
    label order) where given, else by its label."""
    figure, axis = pyplot().subplots(figsize=(6.5, 6))
    colours = pyplot().get_cmap("tab10" if labels.max() < 10 else "tab20")
    for label in np.unique(labels):
        chosen = labels == label
        name = class_names[label] if label < len(class_names) else str(label)
        axis.scatter(*points[chosen].T, s=4, color=colours(int(label) % colours.N), label=name)
    axis.set_title(title)
    axis.set_xticks([])
    axis.set_yticks([])
    axis.legend(title="class", markerscale=3, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    return _save(figure, path)


def gallery_plot(
    originals: np.ndarray, views: list[np.ndarray], path: str, title: str, view_titles=None
) -> str:
    """One row per image: the stored image (uint8 (N, H, W, C)), then each augmented view (float [0, 1]
    (N, S, S, C), sizes may differ between views), titled "view i" or by `view_titles`."""
    rows, columns = len(originals), 1 + len(views)
    figure, axes = pyplot().subplots(rows, columns, figsize=(1.3 * columns, 1.3 * rows), squeeze=False)
    for row in range(rows):
        for column, images in enumerate([originals / 255.0, *views]):
            image = np.clip(np.asarray(images[row], np.float32), 0.0, 1.0)
            axis = axes[row, column]
            axis.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1)
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                names = view_titles or [f"view {index}" for index in range(len(views))]
                axis.set_title("stored" if column == 0 else names[column - 1], fontsize=8)
    figure.suptitle(title, fontsize=9)
    return _save(figure, path)


def _draw_box(axis, box, height: int, width: int, **style) -> None:
    """Box [top, left, bottom, right] (fractions of the image) as a rectangle on an imshow axis."""
    top, left, bottom, right = np.asarray(box) * [height, width, height, width]
    corner = (left - 0.5, top - 0.5)
    axis.add_patch(pyplot().Rectangle(corner, right - left, bottom - top, fill=False, linewidth=1.2, **style))


def boxes_plot(
    originals: np.ndarray,
    held: np.ndarray,
    heat: np.ndarray,
    located: np.ndarray,
    views: list,
    path: str,
    title: str,
) -> str:
    """One row per image: the stored image (uint8 (N, H, W, C)) with its held box (red), its heat map
    ((N, S, S) in [0, 1]) with the box that map gives (white), then each view (float (N, S, S, C))."""
    rows, columns = len(originals), 2 + len(views)
    figure, axes = pyplot().subplots(rows, columns, figsize=(1.3 * columns, 1.3 * rows), squeeze=False)
    names = ["stored, held box", "heat map, its box", *(f"view {index}" for index in range(len(views)))]
    for row in range(rows):
        image = originals[row] / 255.0
        panels = [image, heat[row], *(np.clip(np.asarray(v[row], np.float32), 0.0, 1.0) for v in views)]
        for column, panel in enumerate(panels):
            axis = axes[row, column]
            if column == 1:
                axis.imshow(panel, cmap="inferno", vmin=0, vmax=1)
            else:
                axis.imshow(panel[..., 0] if panel.shape[-1] == 1 else panel, cmap="gray", vmin=0, vmax=1)
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(names[column], fontsize=7)
        _draw_box(axes[row, 0], held[row], *image.shape[:2], edgecolor="red")
        _draw_box(axes[row, 1], located[row], *heat[row].shape, edgecolor="white")
    figure.suptitle(title, fontsize=9)
    return _save(figure, path)


def has_value(line: dict, key: str) -> bool:
    """Whether a metric line holds a number for `key`: not null or NaN, nor undefined (UNDEFINED_WHERE_ZERO)."""
    value = line[key]
    return value is not None and math.isfinite(value) and line.get(UNDEFINED_WHERE_ZERO.get(key), 1) != 0


def curve_points(lines: list[dict], key: str, split: str) -> list[tuple[int, float]]:
    """(step, value) of a metric in one run's lines where it has a value, sorted by step (a step logged
    twice: its later line)."""
    latest = {line["step"]: line for line in lines if line.get("split") == split and key in line}
    return sorted((step, line[key]) for step, line in latest.items() if has_value(line, key))


def curves_plot(runs: dict[str, list[list[dict]]], path: str) -> str:
    """Training curves of several rows ({a row in words: the metrics.jsonl lines of each of its seeds}), one
    colour per row, every seed drawn: loss, online probe, kNN, the network's own classifier, a
    semi-supervised run's mask rate and pseudo-label accuracy, and effective rank against the step; panels
    whose metric no run logged are left out. The legend, below the panels, names the rows."""
    logs = [lines for seeds in runs.values() for lines in seeds]
    panels = [panel for panel in CURVES if any(panel[0] in line for lines in logs for line in lines)]
    if not panels:
        raise ValueError(
            "none of the runs logged a metric to plot (loss, linear_top1, knn_top1, effective_rank)"
        )
    columns = min(2, len(panels))
    figure, axes = pyplot().subplots(
        math.ceil(len(panels) / columns),
        columns,
        figsize=(5.5 * columns, 3.6 * math.ceil(len(panels) / columns) + 0.25 * len(runs)),
        squeeze=False,
        layout="constrained",  # keeps each panel's title clear of the x label above it
    )
    colours = pyplot().get_cmap("tab10")
    handles = {}
    for axis, (key, split, title) in zip(axes.flat, panels, strict=False):
        for index, (label, seeds) in enumerate(runs.items()):
            for lines in seeds:
                points = curve_points(lines, key, split)
                if points:
                    (handles[label],) = axis.plot(
                        *zip(*points, strict=True),
                        color=colours(index % colours.N),
                        alpha=0.8 if len(seeds) > 1 else 1.0,
                        linewidth=1.2,
                        marker="." if len(points) < 30 else None,
                    )
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(panels) :]:
        axis.set_visible(False)
    drawn = [label for label in runs if label in handles]
    names = [label + (f" ({len(runs[label])} seeds)" if len(runs[label]) > 1 else "") for label in drawn]
    figure.legend([handles[label] for label in drawn], names, loc="outside lower center", fontsize=8)
    return _save(figure, path)
