"""Independent pandas computations of the marts, from the local APIs' ground truth."""
