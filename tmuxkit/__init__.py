"""tmuxkit: training runs in tmux sessions, on this machine or over SSH."""

__version__ = "0.1.0"
