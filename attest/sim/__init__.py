"""Simulated drones for the demo and the tests: real bytes, real protocols, no hardware."""
