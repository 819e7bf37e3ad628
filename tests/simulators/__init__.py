"""Tests of the simulators against the captured reference."""
