"""flexbench.signals"""
