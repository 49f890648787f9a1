"""ThingsBoard's REST API for AlarmDesk: requests only, no Django (see client.py)."""
