"""gan_lib: a small, fast PyTorch reproduction of Goodfellow et al., "Generative Adversarial Nets" (2014)."""

__version__ = "0.1.0"
