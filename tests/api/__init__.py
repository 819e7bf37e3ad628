"""Tests of the Home Assistant-free API clients."""
