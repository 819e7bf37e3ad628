"""`script/demo`: the simulators and a real Home Assistant with the integration, loopback only."""
