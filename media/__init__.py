"""Media I/O with PyAV: reading files and live inputs, writing files, segments and pushed streams.

No ZeroMQ, no torch."""
