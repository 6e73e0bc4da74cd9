"""LeNet exactly as the tutorial defines it (``lenet``), its training loop (``train``) and the
checks that keep non-finite weights or outputs from passing (``sanity``). Importing this package
imports no torch; ``lenet`` and ``train`` do."""
