"""Multiple-choice questions: ``options`` (labels, rendering options as lines, reading them back out of a
text, answer folding) and ``answers`` (``parse_answer``: the option a model's text concludes on; its
regular expressions in ``answer_patterns``, what follows a cue in ``answer_cues``, option texts named in a
sentence in ``answer_mentions``)."""
