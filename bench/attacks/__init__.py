"""Built-in relearning attacks, one module each (registered in bench.core.plugins.ATTACKS)."""
