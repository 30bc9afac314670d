"""Weights out of a run (export to safetensors/npz, torchvision or timm names) and into one (init.weights)."""
