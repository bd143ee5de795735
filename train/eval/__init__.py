"""Evaluation of trained models: MCQA, Medprompt, open-ended, safety attacks, comparisons."""
