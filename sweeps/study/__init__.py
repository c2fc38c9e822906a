"""The Optuna study of the loss weights, and the repair of its journal file."""
