"""Test and benchmark harness shared by tests/ and bench/ (not shipped): the loopback sshd."""
