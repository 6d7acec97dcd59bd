"""gan_lib: a small, fast PyTorch reproduction of Goodfellow et al., "Generative Adversarial Nets" (2014).

Importing gan_lib turns on flush-to-zero for the whole process (``torch.set_flush_denormal(True)``): subnormal floats
(below about 1.2e-38 in float32) then read and compute as 0 in every torch operation on the CPU, gan_lib's or not.
Training needs it to be fast, and it can only be done here: see the comment below. To undo it after the import, call
``torch.set_flush_denormal(False)`` before torch runs anything in parallel (it then holds for torch's worker threads).
"""

import torch

__version__ = "0.1.0"
PROG = "python -m gan_lib"  # how the command line is run, as recorded beside the files it makes

# Backprop through saturated sigmoids and the momentum of dead units produce subnormal floats, on which CPUs run ~100x
# slower (a step can take 10x longer). Flush them to zero, as TensorFlow does, and do it on import: the setting is per
# thread, and torch's OpenMP worker threads inherit it only from a thread that had it when they were created, which is
# the first time torch runs anything in parallel in this process; later calls reach the calling thread alone.
torch.set_flush_denormal(True)
