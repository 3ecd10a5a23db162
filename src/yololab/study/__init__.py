"""Activation studies: sweep files run locally (``sweep``, ``runner``), runs read back (``runs``,
``wandb_runs``), measured (``measures``), tested (``stats``, ``claims``), drawn (``plots``) and reported
(``report``); ``scaffold`` starts a new study. Reads run folders or W&B, never the model."""
