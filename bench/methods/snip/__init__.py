"""SNIP: explanation-based neuron pruning (Li 2024) with its LLM backends and its baselines."""
