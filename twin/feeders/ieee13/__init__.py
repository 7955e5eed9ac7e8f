"""IEEE test feeder model files (package data)."""
