"""Use cases (submit, cancel, register, agent sync) and the scheduling cycle."""
