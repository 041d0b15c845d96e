"""Process exit codes of gfn-stream and its nodes (documented in README.md)."""

OK = 0
FAILURE = 1  # internal error (a bug: run with --log-level debug and report it)
USAGE = 2  # bad command line or config file
INPUT = 3  # input missing, unreadable, not a video, no video stream
OUTPUT = 4  # output path refused or the encoder failed
WORKER = 5  # a worker died or the pipeline lost frames
INTERRUPTED = 130  # Ctrl-C / SIGTERM: the output holds the frames written so far
