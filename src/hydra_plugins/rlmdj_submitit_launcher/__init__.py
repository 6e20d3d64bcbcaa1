"""rlmdj's SLURM / local submitit launchers (``hydra/launcher=submitit_slurm|submitit_local``)."""
