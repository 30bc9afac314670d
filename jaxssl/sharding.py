"""The device mesh and how arrays are laid out on it: batches split over "data", memories along their rows and
large weights along one axis, the rest replicated; and the few decisions every process of a pod must take
together."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import AxisType, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def make_mesh(num_devices: int | None = None) -> jax.sharding.Mesh:
    """A 1-D mesh over all (or the first num_devices) devices, with automatic sharding propagation."""
    devices = jax.devices() if num_devices is None else jax.devices()[:num_devices]
    return jax.make_mesh((len(devices),), (DATA_AXIS,), axis_types=(AxisType.Auto,), devices=devices)


def batch_sharding(mesh) -> NamedSharding:
    """Leading (example) dimension split over the data axis."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated(mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


# A per-example memory (InstDisc's bank, DeepCluster-v2's memory) has a row per training example, a count that
# no device count need divide (ImageNet's 1,281,167 is odd). Its rows are padded to a multiple of this, the same
# on every slice, so it splits over any power-of-two device count up to it and its checkpoints move between
# slice sizes. The padding rows hold no example and nothing reads them.
MEMORY_ROW_MULTIPLE = 1024


def padded_rows(count: int) -> int:
    """`count` rounded up to a multiple of MEMORY_ROW_MULTIPLE."""
    return -(-count // MEMORY_ROW_MULTIPLE) * MEMORY_ROW_MULTIPLE


def pad_rows(array, axis: int, rows: int | None = None):
    """`array` with axis `axis` padded at its end to `rows` (padded_rows of its length by default): with -1 in
    an integer array (no example, as an unassigned row), 0 in a float one."""
    array = jnp.asarray(array)
    rows = padded_rows(array.shape[axis]) if rows is None else rows
    widths = [(0, rows - array.shape[axis]) if a == axis else (0, 0) for a in range(array.ndim)]
    fill = -1 if jnp.issubdtype(array.dtype, jnp.integer) else 0
    return jnp.pad(array, widths, constant_values=fill)


def splits_evenly(shape: tuple, axis: int, devices: int) -> bool:
    """Whether `devices` divides axis `axis` of `shape`: an even split is the only one XLA supports."""
    return shape[axis] % devices == 0


def rows_split(mesh, shape: tuple, axis: int) -> NamedSharding:
    """An array split over the data axis along `axis` (a memory's rows), or replicated when the device count
    does not divide that axis."""
    if not splits_evenly(shape, axis, mesh.devices.size):
        return replicated(mesh)
    return split_along(mesh, len(shape), axis)


def split_along(mesh, ndim: int, axis: int) -> NamedSharding:
    """An array of `ndim` dimensions split over the data axis along `axis`."""
    return NamedSharding(mesh, PartitionSpec(*[DATA_AXIS if a == axis else None for a in range(ndim)]))


# A weight (a parameter, its optimizer state, its EMA) of at least `min_bytes` is split over the data axis (as
# ZeRO-3 / FSDP do): each device holds 1/N of it, XLA gathers it where the step uses it whole and
# reduce-scatters its gradient; smaller ones stay replicated, where a gather costs more than it saves. The run
# sets it in config.mesh.min_split_weight_bytes (0: every weight the devices divide; a size larger than any
# weight keeps them all replicated); by default 1 MiB, which the micro models of the tests hold none of and a
# ResNet-18's deeper kernels (2.4 MB) and ResNet-50's exceed. It places the weights, not what the step
# computes: a checkpoint restores under any value, and a run's identity leaves it out.
DEFAULT_MIN_SPLIT_WEIGHT_BYTES = 1 << 20


def weight_axis(shape: tuple, dtype, devices: int, min_bytes: int) -> int | None:
    """The axis a weight is split along over `devices` devices: its longest axis the count divides, when it
    holds at least `min_bytes`; None (replicated) otherwise."""
    divided = [axis for axis in range(len(shape)) if shape[axis] % devices == 0]
    if devices == 1 or not divided or np.prod(shape) * np.dtype(dtype).itemsize < min_bytes:
        return None
    return max(divided, key=lambda axis: shape[axis])


def weight_split(mesh, shape: tuple, dtype, min_bytes: int) -> NamedSharding:
    """A weight's sharding: split along weight_axis, or replicated."""
    axis = weight_axis(shape, dtype, mesh.devices.size, min_bytes)
    return replicated(mesh) if axis is None else split_along(mesh, len(shape), axis)


def host_copy(tree):
    """The arrays of `tree` as numpy, whole: a split array is gathered on the devices first (on a pod a process
    holds only its own devices' parts of it)."""
    leaves = jax.tree.leaves(tree)
    if all(getattr(leaf, "is_fully_replicated", True) for leaf in leaves):
        return jax.device_get(tree)
    mesh = next(leaf.sharding.mesh for leaf in leaves if hasattr(leaf, "sharding"))
    return jax.device_get(jax.jit(_same, out_shardings=replicated(mesh))(tree))


def _same(tree):
    return tree


def check_batch_divides(global_batch: int, mesh) -> None:
    """Raises ValueError unless the global batch splits evenly over devices and processes."""
    devices, processes = mesh.devices.size, jax.process_count()
    if global_batch % devices or global_batch % processes:
        raise ValueError(
            f"global batch size {global_batch} must be divisible by the number of devices "
            f"({devices}) and of processes ({processes})"
        )


def process_rows(mesh, global_batch: int) -> range:
    """The rows of a global batch that this process's devices hold under batch_sharding(mesh): what its input
    pipeline must feed. Read from the sharding, not assumed from the process index, since a mesh may order the
    devices of a pod in any way."""
    return rows_held_by(batch_sharding(mesh), global_batch, jax.local_devices())


def rows_held_by(sharding: NamedSharding, global_batch: int, devices) -> range:
    """The rows of a (global_batch, ...) array that `devices` hold together; ValueError unless contiguous."""
    held = sharding.devices_indices_map((global_batch,))
    rows = sorted({row for d in devices if d in held for row in range(*held[d][0].indices(global_batch)[:2])})
    if not rows or rows != list(range(rows[0], rows[-1] + 1)):
        raise ValueError(
            f"the devices {list(devices)} hold rows {rows[:16]}{'...' if len(rows) > 16 else ''} of a global "
            f"batch of {global_batch}, not one contiguous block: order the mesh's devices by process"
        )
    return range(rows[0], rows[-1] + 1)


def to_global(host_batch: dict, mesh) -> dict:
    """Assembles each process's share of the batch (numpy, leading dim = local batch) into global arrays."""
    sharding = batch_sharding(mesh)
    return {
        name: jax.make_array_from_process_local_data(sharding, np.asarray(value))
        for name, value in host_batch.items()
    }


def any_process(flag: bool) -> bool:
    """Whether `flag` holds on some process. On a pod this is a collective: every process calls it at the
    same point of the program."""
    if jax.process_count() == 1:
        return flag
    return bool(np.max(multihost_utils.process_allgather(np.int32(flag))))


def every_process_reaches(name: str) -> None:
    """Waits until every process has reached the point called `name` (nothing on one process)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)
