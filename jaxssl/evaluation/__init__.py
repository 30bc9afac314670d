"""The evaluation of a run: the offline protocols (registry.py) and their runner, and training's online one."""
