"""Quality stages: the fastText quality classifier and the DEITA evol-score cut."""
