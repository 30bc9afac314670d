"""The evaluation kernels: functions from features (or a network and labelled batches) to a number."""
