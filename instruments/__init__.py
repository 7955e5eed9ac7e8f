"""flexbench.instruments"""
