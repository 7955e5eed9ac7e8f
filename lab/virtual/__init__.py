"""flexbench.lab.virtual"""
