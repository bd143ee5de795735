"""Human evaluation: healthcare professionals compare two models' answers, blind, in a web app the factory serves.

``prepare`` (questions -> PII masked -> answers from 2..N model profiles -> a study file), ``db`` (the study
database: raters, sessions, assignments, votes), ``app`` (the web app raters and the admin use), ``results``
(preference shares, Bradley-Terry strengths, agreement, per-rater distributions in the eval results schema).
The commands are ``factory eval human prepare | invite | revoke | serve | results``; docs/EVAL.md has the tour.
"""
