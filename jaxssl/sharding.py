"""The device mesh and how arrays are laid out on it: batches split over "data", state replicated."""

import jax
import numpy as np
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


def check_batch_divides(global_batch: int, mesh) -> None:
    """Raises ValueError unless the global batch splits evenly over devices and processes."""
    devices, processes = mesh.devices.size, jax.process_count()
    if global_batch % devices or global_batch % processes:
        raise ValueError(
            f"global batch size {global_batch} must be divisible by the number of devices "
            f"({devices}) and of processes ({processes})"
        )


def to_global(host_batch: dict, mesh) -> dict:
    """Assembles each process's share of the batch (numpy, leading dim = local batch) into global arrays."""
    sharding = batch_sharding(mesh)
    return {
        name: jax.make_array_from_process_local_data(sharding, np.asarray(value))
        for name, value in host_batch.items()
    }
