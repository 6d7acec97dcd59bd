"""gan_lib: a small, fast PyTorch reproduction of Goodfellow et al., "Generative Adversarial Nets" (2014)."""

import torch

__version__ = "0.1.0"

# Backprop through saturated sigmoids and the momentum of dead units produce subnormal floats, on which CPUs run ~100x
# slower (a step can take 10x longer). Flush them to zero, as TensorFlow does, and do it on import: worker threads
# inherit this setting only if it is made before torch starts them.
torch.set_flush_denormal(True)
