"""The wire with ZeroMQ: protocol messages, endpoint strings, CurveZMQ keys, heartbeats. No PyAV, no torch."""
