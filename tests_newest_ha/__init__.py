"""The newest-Home-Assistant lane: a real `hass` of the newest release, driven from outside."""
