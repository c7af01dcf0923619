"""Language-model services that methods call: chat backends, sentence embedders, and their shared cache."""
