"""Multiple-choice questions: labels, option rendering and parsing, answer reading and folding."""
