"""Evaluation: protocols, metrics and tallies, the fcn-score judge, the official-evaluator export."""
