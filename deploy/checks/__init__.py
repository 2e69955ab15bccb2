"""Checks of what `make template-check` builds and ships: arm64 wheels, the build's bytecode, the lowest
Python claimed, `sam local`, and the layer's pins against known vulnerabilities."""
