"""Tools: the simulator and the demo, which may use every layer."""
