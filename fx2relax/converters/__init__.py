"""Converters: thin functions mapping FX targets onto the TE kernels, registered by decorator.

Importing this package registers every built-in converter; one op family a file, as in kernels/.
"""

from . import (  # noqa: F401  (registration)
    activation,
    attention,
    conv,
    elementwise,
    identity,
    linear,
    normalization,
    padding,
    pooling,
    rearrange,
    reduction,
    resize,
    shape,
    softmax,
    ternary,
    window_attention,
)
