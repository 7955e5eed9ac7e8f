"""flexbench.twin"""
