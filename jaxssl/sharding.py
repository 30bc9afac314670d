"""The device mesh and how arrays are laid out on it: batches split over "data", state replicated; and the few
decisions every process of a pod must take together."""

import jax
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


def splits_evenly(shape: tuple, axis: int, devices: int) -> bool:
    """Whether `devices` divides axis `axis` of `shape`: an even split is the only one XLA supports."""
    return shape[axis] % devices == 0


def rows_split(mesh, shape: tuple, axis: int) -> NamedSharding:
    """An array split over the data axis along `axis` (a memory's rows), or replicated when the device count
    does not divide that axis."""
    if not splits_evenly(shape, axis, mesh.devices.size):
        return replicated(mesh)
    return NamedSharding(mesh, PartitionSpec(*[DATA_AXIS if a == axis else None for a in range(len(shape))]))


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
