"""fewpair's science: data, selection, networks, losses, training and evaluation. Never imports Ray."""
