"""Activation studies: sweep files run locally (``sweep``, ``runner``), runs read back (``runs``,
``wandb_runs``), their arms read from the configs (``arms``), measured (``measures``), tested (``stats``)
against what the study file says it tests (``design``) by the verdict rules (``verdicts``, ``claims``), drawn
(``plots``) and reported (``sections``, ``report``); ``scaffold`` starts a new study. Reads run folders or W&B,
never the model."""
