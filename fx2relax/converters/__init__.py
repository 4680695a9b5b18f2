"""Converters: thin functions mapping FX targets onto the TE kernels, registered by decorator.

Importing this package registers every built-in converter; one op family a file, as in kernels/.
"""

from . import (  # noqa: F401  (registration)
    activation,
    attention,
    cast,
    comparison,
    conv,
    creation,
    elementwise,
    fold,
    identity,
    indexing,
    leaf_functions,
    linear,
    math,
    normalization,
    padding,
    pooling,
    rearrange,
    recurrent,
    reduction,
    resize,
    shape,
    sizes,
    softmax,
    ternary,
    window_attention,
)
