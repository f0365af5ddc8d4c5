"""`python -m train` (also under torchrun: `torchrun --nproc_per_node N -m train ...`)."""
from train.cli import main

raise SystemExit(main())
