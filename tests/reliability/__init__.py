"""Reliability and security suite: bad input, faults, crashes, secrets and privacy."""
