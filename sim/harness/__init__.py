"""The simulator harness: scenarios, faults, clients, traders, report and the runner that drives a whole desk.

It may import the desk (actors, transport); the venue around it (sim/*.py) imports nothing of the desk.
"""
