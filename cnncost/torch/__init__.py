"""Everything that needs torch: the spec → ``nn.Module`` builder, the cross-checks, and ``bench``
(timing, the device roof, the environment it ran in).

This is the only package that imports torch; the analytical path never imports it.
"""

import warnings

# torchvision/fvcore call torch.jit.script at import; torch 2.14 warns that it is deprecated.
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning)
