"""Many traces at once: a survey of the applications and a comparison of two probes."""
