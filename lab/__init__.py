"""flexbench.lab"""
