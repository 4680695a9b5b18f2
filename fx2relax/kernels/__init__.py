"""Hand-written TVM Tensor Expression kernels, one op family a file. Pure TE: no Relax, no topi."""
