"""Contrastive self-supervised learning and few-shot meta-learning under one episodic API."""

__version__ = "0.1.0"
