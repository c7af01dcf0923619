"""relearn-bench: does an unlearned concept stay removed once the model is trained again?"""

__version__ = "0.1.0"
