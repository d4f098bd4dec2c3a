"""Ports: the protocols the domain and the use cases need from the outside world, and the values that cross them."""
